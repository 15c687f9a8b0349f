build/guestlib/kernel/reloc.o: guestlib/kernel/reloc.c \
 guestlib/include/guest/visibility.h guestlib/include/guest/types.h
guestlib/include/guest/visibility.h:
guestlib/include/guest/types.h:
