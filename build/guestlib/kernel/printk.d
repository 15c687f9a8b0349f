build/guestlib/kernel/printk.o: guestlib/kernel/printk.c \
 guestlib/include/guest/visibility.h guestlib/include/guest/printk.h \
 guestlib/include/guest/types.h guestlib/include/guest/string.h
guestlib/include/guest/visibility.h:
guestlib/include/guest/printk.h:
guestlib/include/guest/types.h:
guestlib/include/guest/string.h:
