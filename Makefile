# ci-wrap - see README.md. `make` builds ./ci-wrap; `make check` sets up the
# machine (packages, dockerd, test image) and runs every test.

CC ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS ?= -O2 -g
CPPFLAGS ?=
LDFLAGS ?=
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
BUILD ?= build
BIN ?= ci-wrap
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
# The version is debian/changelog's (one place for both); the commit is git's
# when building in a checkout, else COMMIT=... from the caller, else the
# .commit file `make deb` leaves in its copy of the tree.
VERSION := $(patsubst (%),%,$(word 2,$(shell head -n 1 debian/changelog)))
ifeq ($(origin COMMIT),undefined)
COMMIT := $(shell git describe --always --dirty 2>/dev/null || cat .commit 2>/dev/null || echo unknown)
endif

WARNINGS = -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wformat=2
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags jansson libcurl 2>/dev/null)
# libcurl: headers only; launcher/docker.c dlopen()s it when teardown needs it.
DEPS_LIBS := -lev -lcgroup $(shell $(PKG_CONFIG) --libs jansson 2>/dev/null) -lz -lm -ldl -pthread
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -I$(BUILD) \
	-I$(LLHTTP_INC) $(DEPS_CFLAGS) -MMD -MP

MODULES := $(wildcard common/*.c proxy/*.c launcher/*.c cgroup/*.c)
LIB_SRCS := $(filter-out launcher/main.c,$(MODULES))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/launcher/main.o
LLHTTP_OBJS := $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o $(BUILD)/llhttp/llhttp.o
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all

.DELETE_ON_ERROR:

.PHONY: FORCE all check check-vm unit integration asan setup demo bench bench-vm docs install uninstall \
	fmt clean deb

all: $(BIN)

$(BIN): $(MAIN_OBJ) $(LIB_OBJS) $(LLHTTP_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS)

# version.h changes only when the version or the commit does, so a new commit
# rebuilds cli.o and relinks, and nothing else.
$(BUILD)/version.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define CI_WRAP_VERSION "%s"\n#define CI_WRAP_COMMIT "%s"\n' \
		'$(VERSION)' '$(COMMIT)' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@
$(BUILD)/launcher/cli.o: $(BUILD)/version.h

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) -c -o $@ $<

# llhttp is Debian's node-llhttp C sources, built as they are (strict mode:
# fewer leniencies for a proxy that must not be smuggled past).
$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DLLHTTP_STRICT_MODE=1 -w -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(LLHTTP_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARNINGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ \
		$(filter %.c %.o,$^) $(DEPS_LIBS) -lcmocka

setup:
	scripts/setup.sh

unit: $(UNIT_TESTS)
	tests/unit/run.sh $(UNIT_TESTS)

integration: $(BIN)
	tests/integration/run.sh ./$(BIN)

# The whole suite against a real dockerd, then the VM stage (a Debian 12 guest:
# cgroup v2, docker's systemd and cgroupfs drivers); ends with "N passed, N failed".
check: setup
	$(MAKE) all $(UNIT_TESTS)
	rm -rf $(BUILD)/vm-deb
	DEB_BUILD_OPTIONS=nocheck scripts/build-deb.sh $(BUILD)/vm-deb
	CIWRAP_VM_DEB=$$(ls $(BUILD)/vm-deb/ci-wrap_*.deb) tests/run-all.sh --vm ./$(BIN) $(UNIT_TESTS)

# The VM stage alone: builds (once, cached) the guest image and boots it.
check-vm: setup
	$(MAKE) all
	tests/vm/run.sh ./$(BIN)

# The same tests, built with AddressSanitizer and UBSan.
asan: setup
	$(MAKE) BUILD=build-asan BIN=build-asan/ci-wrap CFLAGS="$(ASAN_FLAGS)" \
		build-asan/ci-wrap $(UNIT_TESTS:$(BUILD)/%=build-asan/%)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		tests/run-all.sh build-asan/ci-wrap $(UNIT_TESTS:$(BUILD)/%=build-asan/%)

demo: setup
	$(MAKE) all
	examples/demo.sh ./$(BIN)

bench: setup
	$(MAKE) all
	bench/run.sh ./$(BIN)

# The pool's set-up cost per cgroup manager, inside the Debian 12 VM.
bench-vm: setup
	$(MAKE) all
	CIWRAP_VM_BENCH=1 tests/vm/run.sh ./$(BIN)

# The man page's option list and README's --help block, from the option table
# (the integration tests check that they are up to date).
docs: $(BIN)
	docs/gen-options.sh ./$(BIN) --update docs/ci-wrap.1 README.md
	docs/gen-write-surface.sh ./$(BIN) docs/write-surface.md

# ci-wrap-sh, Jenkins' "Shell executable", runs the ci-wrap next to it.
install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/ci-wrap
	install -D -m 0755 launcher/ci-wrap-sh $(DESTDIR)$(BINDIR)/ci-wrap-sh
	install -D -m 0644 docs/ci-wrap.1 $(DESTDIR)$(MANDIR)/man1/ci-wrap.1

# The Debian package, built from a copy of the tracked files (as they are in
# the work tree) so that the tree stays clean; the .deb lands in DEB_OUT.
DEB_OUT ?= $(BUILD)/deb
deb:
	scripts/build-deb.sh $(DEB_OUT)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ci-wrap $(DESTDIR)$(BINDIR)/ci-wrap-sh \
		$(DESTDIR)$(MANDIR)/man1/ci-wrap.1

fmt:
	clang-format -i $(MODULES) $(wildcard */*.h tests/unit/*.c)

clean:
	rm -rf build build-asan ci-wrap

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
