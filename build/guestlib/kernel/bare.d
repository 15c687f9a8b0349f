build/guestlib/kernel/bare.o: guestlib/kernel/bare.c \
 guestlib/include/guest/kernel.h guestlib/include/guest/xen.h \
 guestlib/include/guest/types.h guestlib/include/guest/arch.h
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/arch.h:
