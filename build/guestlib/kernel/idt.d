build/guestlib/kernel/idt.o: guestlib/kernel/idt.c \
 guestlib/include/guest/kernel.h guestlib/include/guest/xen.h \
 guestlib/include/guest/types.h
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
