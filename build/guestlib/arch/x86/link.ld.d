build/guestlib/arch/x86/link.ld.o: guestlib/arch/x86/link.ld.S \
 guestlib/include/guest/visibility.h include/xensim/abi.h
guestlib/include/guest/visibility.h:
include/xensim/abi.h:
