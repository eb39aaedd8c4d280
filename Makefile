# Thin wrapper around Meson/Ninja.  `make check` and `make demo` install
# their own dependencies first, so they work on a fresh Debian 12 machine.
BUILD ?= build
ASAN_BUILD ?= build-asan
PREFIX ?= /usr/local

.PHONY: all deps check check-slow check-unit check-asan demo install clean lab

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	tests/lab/build.sh $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

deps:
	scripts/install-deps

lab: $(BUILD)/build.ninja
	tests/lab/build.sh $(BUILD)

# Every test twice: a normal build, then AddressSanitizer + UBSan.
check: deps
	$(MAKE) all
	$(MAKE) $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	scripts/run-tests $(BUILD) $(ASAN_BUILD)

# Real guests: build the Debian test guest (cached), boot it on VMware's
# devices, migrate and convert it (virt-v2v under TCG: minutes).
check-slow: deps
	$(MAKE) all
	V2K_SUITE=slow scripts/run-tests $(BUILD)

demo: deps
	$(MAKE) all
	scripts/demo

install: all
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
