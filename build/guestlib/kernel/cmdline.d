build/guestlib/kernel/cmdline.o: guestlib/kernel/cmdline.c \
 guestlib/include/guest/kernel.h guestlib/include/guest/xen.h \
 guestlib/include/guest/types.h guestlib/include/guest/string.h
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/string.h:
