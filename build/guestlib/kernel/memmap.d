build/guestlib/kernel/memmap.o: guestlib/kernel/memmap.c \
 guestlib/include/guest/visibility.h guestlib/include/guest/kernel.h \
 guestlib/include/guest/xen.h guestlib/include/guest/types.h \
 guestlib/include/guest/hypercall.h include/xensim/e820.h
guestlib/include/guest/visibility.h:
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/hypercall.h:
include/xensim/e820.h:
