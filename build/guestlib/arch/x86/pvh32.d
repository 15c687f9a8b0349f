build/guestlib/arch/x86/pvh32.o: guestlib/arch/x86/pvh32.S \
 guestlib/include/guest/visibility.h
guestlib/include/guest/visibility.h:
