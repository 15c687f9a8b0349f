build/guestlib/kernel/string.o: guestlib/kernel/string.c \
 guestlib/include/guest/visibility.h guestlib/include/guest/string.h \
 guestlib/include/guest/types.h
guestlib/include/guest/visibility.h:
guestlib/include/guest/string.h:
guestlib/include/guest/types.h:
