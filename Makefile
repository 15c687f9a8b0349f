# xensim build.  `make` builds build/xensim and build/guests/*.elf.
# Variables: CC (gcc or clang), BUILD (output dir), SAN=1 (ASan+UBSan build).
CC      ?= gcc
BUILD   ?= build
PYTHON  ?= /usr/bin/python3

ifeq ($(SAN),1)
BUILD   := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

WARN     := -Wall -Wextra -Werror -D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__
CFLAGS   ?= -O2 -g
EMU_CFLAGS := -std=c11 $(WARN) $(CFLAGS) $(SANFLAGS) -D_GNU_SOURCE -Iinclude -Iemulator \
              $(shell pkg-config --cflags capstone 2>/dev/null) -MMD -MP
EMU_LIBS   := $(shell pkg-config --libs capstone 2>/dev/null || echo -lcapstone)

# Guests are freestanding kernels: no red zone (interrupts share the stack), no
# FP/SSE state (the simulator does not switch it), position independent so each
# domain can live at its own direct-map base.
GUEST_CFLAGS := -std=c11 $(WARN) -O2 -g -ffreestanding -fno-builtin -nostdlib \
                -fno-stack-protector -fPIE -mno-red-zone -mgeneral-regs-only \
                -fno-asynchronous-unwind-tables -fcf-protection=none \
                -Iguestlib/include -Iinclude -include guestlib/include/guest/visibility.h $(GUEST_BUGS:%=-DGUEST_BUG_%) -MMD -MP
GUEST_LDFLAGS := -nostdlib -static-pie -Wl,--no-dynamic-linker -Wl,-z,norelro \
                 -Wl,-z,noexecstack -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,$(BUILD)/guestlib/link.ld

EMU_C    := $(sort $(wildcard emulator/*.c))
EMU_S    := $(sort $(wildcard emulator/*.S))
EMU_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(filter-out emulator/main.c,$(EMU_C))) \
            $(patsubst %.S,$(BUILD)/%.o,$(EMU_S))
GL_C     := $(sort $(wildcard guestlib/kernel/*.c))
GL_S     := $(sort $(wildcard guestlib/arch/x86/*.S))
GL_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(GL_C)) $(patsubst %.S,$(BUILD)/%.o,$(GL_S))
APPS     := $(notdir $(wildcard guestlib/apps/*))
GUESTS   := $(APPS:%=$(BUILD)/guests/%.elf)
UNIT_C   := $(sort $(wildcard tests/unit/*.c))

all: $(BUILD)/xensim $(GUESTS)

$(BUILD)/libxensim.a: $(EMU_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/xensim: $(BUILD)/emulator/main.o $(BUILD)/libxensim.a
	$(CC) $(SANFLAGS) -o $@ $^ $(EMU_LIBS)

$(BUILD)/emulator/%.o: emulator/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(EMU_CFLAGS) -c -o $@ $<

$(BUILD)/emulator/%.o: emulator/%.S Makefile
	@mkdir -p $(@D)
	$(CC) $(EMU_CFLAGS) -c -o $@ $<

$(BUILD)/guestlib/%.o: guestlib/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guestlib/%.o: guestlib/%.S Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guestlib/link.ld: guestlib/link.lds.in include/xensim/abi.h
	@mkdir -p $(@D)
	$(CC) -E -P -x c -Iinclude -D__ASSEMBLY__ $< | grep -v '^#' > $@

$(BUILD)/guestlib/libguest.a: $(GL_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

app_objs = $(patsubst guestlib/%.c,$(BUILD)/guestlib/%.o,$(wildcard guestlib/apps/$(1)/*.c))
.SECONDEXPANSION:
$(BUILD)/guests/%.elf: $$(call app_objs,$$*) \
                       $(BUILD)/guestlib/libguest.a $(BUILD)/guestlib/link.ld
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ \
	    $(filter %.o,$^) -Wl,--whole-archive $(BUILD)/guestlib/libguest.a -Wl,--no-whole-archive

# ---- tests ----------------------------------------------------------------
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -lpthread)

$(BUILD)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(EMU_CFLAGS) $(shell pkg-config --cflags check 2>/dev/null) -c -o $@ $<

$(BUILD)/unit-tests: $(UNIT_C:%.c=$(BUILD)/%.o) $(BUILD)/libxensim.a
	$(CC) $(SANFLAGS) -o $@ $^ $(EMU_LIBS) $(CHECK_LIBS)

unit: $(BUILD)/unit-tests all
	XENSIM_GUEST_DIR=$(BUILD)/guests CK_FORK=yes $(BUILD)/unit-tests

integration: all
	XENSIM=$(BUILD)/xensim XENSIM_BUILD=$(BUILD) $(PYTHON) -m pytest -q tests/integration

deps:
	@bash ci/install-deps

check: deps
	$(MAKE) all unit $(BUILD)/xsbench
	$(MAKE) integration
	$(MAKE) SAN=1 all unit
	$(MAKE) SAN=1 integration
	$(MAKE) fuzz-smoke
	bash ci/check-format
	@echo "make check: all suites passed"

demo: deps all
	bash ci/demo $(BUILD)

# The migration-bug regression suite (docs/guest-bugs.md): scenario x
# (normal build, build with its bug) table; bug builds go to build-bugs/.
regressions: all
	$(PYTHON) tests/integration/test_regressions.py --build $(BUILD)

# Host-side benchmark programs (ci/bench), linked like the unit tests.
$(BUILD)/bench/%.o: bench/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(EMU_CFLAGS) -c -o $@ $<

$(BUILD)/xsbench: $(BUILD)/bench/xsbench.o $(BUILD)/libxensim.a
	$(CC) $(SANFLAGS) -o $@ $^ $(EMU_LIBS)

$(BUILD)/blkbench: $(BUILD)/bench/blkbench.o $(BUILD)/libxensim.a
	$(CC) $(SANFLAGS) -o $@ $^ $(EMU_LIBS)

$(BUILD)/migbench: $(BUILD)/bench/migbench.o $(BUILD)/libxensim.a
	$(CC) $(SANFLAGS) -o $@ $^ $(EMU_LIBS)

$(BUILD)/livebench: $(BUILD)/bench/livebench.o $(BUILD)/libxensim.a
	$(CC) $(SANFLAGS) -o $@ $^ $(EMU_LIBS)

bench: $(BUILD)/migbench $(BUILD)/livebench
bench: all $(BUILD)/xsbench $(BUILD)/blkbench
	bash ci/bench $(BUILD)

coverage: deps
	bash ci/coverage

# ---- fuzzing (fuzz/README.md) ---------------------------------------------
FUZZ_CC     ?= clang
FUZZ_BUILD  := build-fuzz
FUZZ_CFLAGS := -std=c11 $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=all -D_GNU_SOURCE -Iinclude -Iemulator
XS_FUZZ_SRC := fuzz/xenstore_wire.c $(filter-out emulator/xenstore_sim.c,$(wildcard emulator/xenstore_*.c))

CONSOLE_FUZZ_SRC := fuzz/console_ring.c emulator/console_ring.c
# blkback needs a whole simulation (a domain's memory, grants, xenstore).
BLK_FUZZ_SRC := fuzz/blkback_requests.c $(filter-out emulator/main.c,$(EMU_C)) $(EMU_S)

fuzz: $(FUZZ_BUILD)/xenstore_wire fuzz/xenstore_wire_seed_corpus.zip \
      $(FUZZ_BUILD)/console_ring fuzz/console_ring_seed_corpus.zip \
      $(FUZZ_BUILD)/blkback_requests fuzz/blkback_requests_seed_corpus.zip

$(FUZZ_BUILD)/xenstore_wire: $(XS_FUZZ_SRC) $(wildcard emulator/xenstore*.h) Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(XS_FUZZ_SRC)

$(FUZZ_BUILD)/console_ring: $(CONSOLE_FUZZ_SRC) emulator/console_ring.h Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(CONSOLE_FUZZ_SRC)

$(FUZZ_BUILD)/blkback_requests: $(BLK_FUZZ_SRC) $(wildcard emulator/*.h) Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags capstone 2>/dev/null) -o $@ \
	    $(BLK_FUZZ_SRC) $(EMU_LIBS)

# OSS-Fuzz's seed archive, made from fuzz/corpus/ at build time (not committed).
fuzz/xenstore_wire_seed_corpus.zip: $(wildcard fuzz/corpus/xenstore_wire/*)
	$(PYTHON) -c 'import os, sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); \
	    [z.write(f, os.path.basename(f)) for f in sorted(sys.argv[2:])]; z.close()' $@ $^

fuzz/console_ring_seed_corpus.zip: $(wildcard fuzz/corpus/console_ring/*)
	$(PYTHON) -c 'import os, sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); \
	    [z.write(f, os.path.basename(f)) for f in sorted(sys.argv[2:])]; z.close()' $@ $^

fuzz/blkback_requests_seed_corpus.zip: $(wildcard fuzz/corpus/blkback_requests/*)
	$(PYTHON) -c 'import os, sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); \
	    [z.write(f, os.path.basename(f)) for f in sorted(sys.argv[2:])]; z.close()' $@ $^

# netback against a hostile frontend and a peer vif, through the whole
# emulator; seeds are written by fuzz/netback_requests_seeds.py.
NET_FUZZ_SRC := fuzz/netback_requests.c $(filter-out emulator/main.c,$(EMU_C)) $(EMU_S)
fuzz: $(FUZZ_BUILD)/netback_requests fuzz/netback_requests_seed_corpus.zip

$(FUZZ_BUILD)/netback_requests: $(NET_FUZZ_SRC) $(wildcard emulator/*.h) Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags capstone 2>/dev/null) -o $@ \
	    $(NET_FUZZ_SRC) $(EMU_LIBS)

fuzz/netback_requests_seed_corpus.zip: $(wildcard fuzz/corpus/netback_requests/*)
	$(PYTHON) -c 'import os, sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); \
	    [z.write(f, os.path.basename(f)) for f in sorted(sys.argv[2:])]; z.close()' $@ $^

fuzz-smoke: fuzz-smoke-netback
fuzz-smoke-netback: fuzz
	@mkdir -p $(FUZZ_BUILD)/corpus-netback_requests
	$(FUZZ_BUILD)/netback_requests -runs=2000 -seed=1 -dict=fuzz/netback_requests.dict \
	    -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus-netback_requests \
	    fuzz/corpus/netback_requests
.PHONY: fuzz-smoke-netback

# The libxc migration stream reader (and a stream into a domain image); its
# seeds are written by fuzz/migstream_corpus.c (`make migstream-corpus`).
MIGSTREAM_FUZZ_SRC := fuzz/migstream_read.c $(filter-out emulator/main.c,$(EMU_C)) $(EMU_S)
fuzz: $(FUZZ_BUILD)/migstream_read fuzz/migstream_read_seed_corpus.zip

$(FUZZ_BUILD)/migstream_read: $(MIGSTREAM_FUZZ_SRC) $(wildcard emulator/*.h) Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags capstone 2>/dev/null) -o $@ \
	    $(MIGSTREAM_FUZZ_SRC) $(EMU_LIBS)

fuzz/migstream_read_seed_corpus.zip: $(wildcard fuzz/corpus/migstream_read/*)
	$(PYTHON) -c 'import os, sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); \
	    [z.write(f, os.path.basename(f)) for f in sorted(sys.argv[2:])]; z.close()' $@ $^

$(BUILD)/fuzz/%.o: fuzz/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(EMU_CFLAGS) -c -o $@ $<

$(BUILD)/migstream_corpus: $(BUILD)/fuzz/migstream_corpus.o $(BUILD)/libxensim.a
	$(CC) $(SANFLAGS) -o $@ $^ $(EMU_LIBS)

migstream-corpus: $(BUILD)/migstream_corpus
	@mkdir -p fuzz/corpus/migstream_read
	$(BUILD)/migstream_corpus fuzz/corpus/migstream_read

fuzz-smoke: fuzz-smoke-migstream
fuzz-smoke-migstream: fuzz
	@mkdir -p $(FUZZ_BUILD)/corpus-migstream_read
	$(FUZZ_BUILD)/migstream_read -runs=20000 -seed=1 -dict=fuzz/migstream_read.dict \
	    -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus-migstream_read \
	    fuzz/corpus/migstream_read

# guestlib's netfront (the `net` guest app, run in a simulation) against a
# backend played by the harness; it loads $(BUILD)/guests/net.elf.
NETFRONT_FUZZ_SRC := fuzz/netfront_responses.c $(filter-out emulator/main.c,$(EMU_C)) $(EMU_S)
fuzz: $(FUZZ_BUILD)/netfront_responses fuzz/netfront_responses_seed_corpus.zip

$(FUZZ_BUILD)/netfront_responses: $(NETFRONT_FUZZ_SRC) $(wildcard emulator/*.h) Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags capstone 2>/dev/null) -o $@ \
	    $(NETFRONT_FUZZ_SRC) $(EMU_LIBS)

fuzz/netfront_responses_seed_corpus.zip: $(wildcard fuzz/corpus/netfront_responses/*)
	$(PYTHON) -c 'import os, sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); \
	    [z.write(f, os.path.basename(f)) for f in sorted(sys.argv[2:])]; z.close()' $@ $^

# Each input boots a guest (~50 inputs/s): a few hundred runs.
fuzz-smoke: fuzz-smoke-netfront
fuzz-smoke-netfront: $(FUZZ_BUILD)/netfront_responses fuzz/netfront_responses_seed_corpus.zip \
                     $(BUILD)/guests/net.elf
	@mkdir -p $(FUZZ_BUILD)/corpus-netfront_responses
	NETFRONT_FUZZ_GUEST=$(BUILD)/guests/net.elf $(FUZZ_BUILD)/netfront_responses -runs=500 \
	    -seed=1 -dict=fuzz/netfront_responses.dict -artifact_prefix=$(FUZZ_BUILD)/ \
	    $(FUZZ_BUILD)/corpus-netfront_responses fuzz/corpus/netfront_responses
.PHONY: fuzz-smoke-netfront

# guestlib's blkfront (the `blk` guest app, mode fuzz=1, run in a simulation)
# against a backend played by the harness; seeds are written by
# fuzz/blkfront_responses_seeds.py.  Its guest, found next to the binary, is
# the blk app with blkfront.c built by clang with inline 8-bit counters: the
# harness hands them to libFuzzer, which then sees the guest's coverage.
BLKFRONT_FUZZ_SRC := fuzz/blkfront_responses.c $(filter-out emulator/main.c,$(EMU_C)) $(EMU_S)
BLKFRONT_FUZZ_GUEST_OBJ := $(filter-out %/kernel/blkfront.o,$(GL_OBJ)) \
    $(patsubst guestlib/%.c,$(BUILD)/guestlib/%.o,$(wildcard guestlib/apps/blk/*.c))
fuzz: $(FUZZ_BUILD)/blkfront_responses $(FUZZ_BUILD)/guests/blk.elf \
      fuzz/blkfront_responses_seed_corpus.zip

$(FUZZ_BUILD)/blkfront_responses: $(BLKFRONT_FUZZ_SRC) $(wildcard emulator/*.h) Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags capstone 2>/dev/null) -o $@ \
	    $(BLKFRONT_FUZZ_SRC) $(EMU_LIBS)

$(FUZZ_BUILD)/guests/blkfront-cov.o: guestlib/kernel/blkfront.c \
        $(wildcard guestlib/include/guest/*.h) Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(GUEST_CFLAGS) -fsanitize-coverage=inline-8bit-counters -c -o $@ $<

$(FUZZ_BUILD)/guests/blkfront_responses_guest.o: fuzz/blkfront_responses_guest.c Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/guests/blk.elf: $(FUZZ_BUILD)/guests/blkfront-cov.o \
        $(FUZZ_BUILD)/guests/blkfront_responses_guest.o $(BLKFRONT_FUZZ_GUEST_OBJ) \
        $(BUILD)/guestlib/link.ld
	$(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

fuzz/blkfront_responses_seed_corpus.zip: $(wildcard fuzz/corpus/blkfront_responses/*)
	$(PYTHON) -c 'import os, sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); \
	    [z.write(f, os.path.basename(f)) for f in sorted(sys.argv[2:])]; z.close()' $@ $^

# Each input boots a guest (10-50 inputs/s): a few hundred runs.
fuzz-smoke: fuzz-smoke-blkfront
fuzz-smoke-blkfront: fuzz
	@mkdir -p $(FUZZ_BUILD)/corpus-blkfront_responses
	$(FUZZ_BUILD)/blkfront_responses -runs=300 -seed=1 -dict=fuzz/blkfront_responses.dict \
	    -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus-blkfront_responses \
	    fuzz/corpus/blkfront_responses
.PHONY: fuzz-smoke-blkfront

# A short run: new inputs go to a scratch directory, the seeds stay as they are.
fuzz-smoke: fuzz
	@mkdir -p $(FUZZ_BUILD)/corpus-xenstore_wire
	$(FUZZ_BUILD)/xenstore_wire -runs=20000 -seed=1 -dict=fuzz/xenstore_wire.dict \
	    -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus-xenstore_wire fuzz/corpus/xenstore_wire
	@mkdir -p $(FUZZ_BUILD)/corpus-console_ring
	$(FUZZ_BUILD)/console_ring -runs=20000 -seed=1 -dict=fuzz/console_ring.dict \
	    -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus-console_ring fuzz/corpus/console_ring
	@mkdir -p $(FUZZ_BUILD)/corpus-blkback_requests
	$(FUZZ_BUILD)/blkback_requests -runs=3000 -seed=1 -dict=fuzz/blkback_requests.dict \
	    -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus-blkback_requests \
	    fuzz/corpus/blkback_requests

clean:
	rm -rf build build-asan build-cov build-fuzz build-bugs fuzz/*_seed_corpus.zip

.PHONY: all unit integration deps check demo bench coverage clean fuzz fuzz-smoke
.PHONY: regressions
.PHONY: fuzz-smoke-migstream migstream-corpus

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
