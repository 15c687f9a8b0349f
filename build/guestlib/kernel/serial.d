build/guestlib/kernel/serial.o: guestlib/kernel/serial.c \
 guestlib/include/guest/visibility.h guestlib/include/guest/kernel.h \
 guestlib/include/guest/xen.h guestlib/include/guest/types.h \
 guestlib/include/guest/arch.h
guestlib/include/guest/visibility.h:
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/arch.h:
