# rune — see README.md. `make demo` and `make test` work on a fresh Debian 12 machine as root.

CARGO      ?= cargo
JOBS       ?= 2
RELEASE    := target/release
BUILD      := build
# Debian packages the build, the demo and the tests need.
DEB_BUILD  := gcc pkg-config libseccomp-dev
DEB_TEST   := busybox-static jq runc crun hyperfine strace procps file

.PHONY: all build release deps demo test test-unit test-integration bench clean fmt lint

all: build

deps:
	@scripts/install-deps.sh $(DEB_BUILD) $(DEB_TEST)

build:
	$(CARGO) build --workspace -j$(JOBS)

release:
	$(CARGO) build --release --workspace -j$(JOBS)

# Builds rune in release mode, a busybox bundle, and runs a container with it.
demo: deps release
	@scripts/demo.sh $(RELEASE)/rune

# Every test: unit, property and integration (integration tests need root; they say why they skip).
test: deps
	@scripts/test.sh

bench: deps release
	@scripts/bench/lifecycle.sh $(RELEASE)/rune

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -j$(JOBS) -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
