build/guestlib/kernel/page_alloc.o: guestlib/kernel/page_alloc.c \
 guestlib/include/guest/visibility.h guestlib/include/guest/kernel.h \
 guestlib/include/guest/xen.h guestlib/include/guest/types.h \
 guestlib/include/guest/mm.h guestlib/include/guest/string.h
guestlib/include/guest/visibility.h:
guestlib/include/guest/kernel.h:
guestlib/include/guest/xen.h:
guestlib/include/guest/types.h:
guestlib/include/guest/mm.h:
guestlib/include/guest/string.h:
