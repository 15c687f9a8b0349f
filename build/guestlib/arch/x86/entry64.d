build/guestlib/arch/x86/entry64.o: guestlib/arch/x86/entry64.S \
 guestlib/include/guest/visibility.h include/xensim/abi.h
guestlib/include/guest/visibility.h:
include/xensim/abi.h:
