build/guestlib/kernel/time.o: guestlib/kernel/time.c \
 guestlib/include/guest/visibility.h guestlib/include/guest/kernel.h \
 guestlib/include/guest/xen.h guestlib/include/guest/types.h \
 guestlib/include/guest/arch.h guestlib/include/guest/time.h
guestlib/include/guest/visibility.h:
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/arch.h:
guestlib/include/guest/time.h:
