# rune — see README.md. `make demo` and `make test` work on a fresh Debian 12 machine as root.

CARGO      ?= cargo
JOBS       ?= 2
RELEASE    := target/release
BUILD      := build
# Debian packages the build, the demo and the tests need.
DEB_BUILD  := gcc pkg-config libseccomp-dev dpkg-dev
DEB_TEST   := busybox-static jq runc crun hyperfine strace procps file containerd docker.io umoci \
              debootstrap curl
# Plots of the benchmarks (scripts/bench/epm.sh).
DEB_BENCH  := gnuplot-nox

.PHONY: all build release deps demo test test-unit test-integration test-packages bench bench-epm clean fmt lint deb

all: build

deps:
	@scripts/install-deps.sh $(DEB_BUILD) $(DEB_TEST) $(DEB_BENCH)

# liberpal-sim.so, the software TEE enclave runtime, is built as target/<profile>/liberpal_sim.so
# (cargo's name) and copied to liberpal-sim.so (Inclavare's name) beside rune.
build:
	$(CARGO) build --workspace -j$(JOBS)
	cp target/debug/liberpal_sim.so target/debug/liberpal-sim.so

release:
	$(CARGO) build --release --workspace -j$(JOBS)
	cp $(RELEASE)/liberpal_sim.so $(RELEASE)/liberpal-sim.so

# Builds rune in release mode, a busybox bundle, and runs a container with it.
demo: deps release
	@scripts/demo.sh $(RELEASE)

# Every test: unit, property and integration (integration tests need root; they say why they skip).
test: deps
	@scripts/test.sh

# Debian packages into build/deb/: rune (rune, containerd-shim-rune-v2, liberpal-sim.so),
# verdictd and epm. Installs cargo-deb when missing.
deb:
	@scripts/install-deps.sh $(DEB_BUILD)
	@JOBS=$(JOBS) scripts/build-debs.sh

# The packages installed into a clean Debian 12 chroot (also the last stage of `make test`).
test-packages:
	@scripts/install-deps.sh $(DEB_BUILD) debootstrap curl busybox-static jq
	@JOBS=$(JOBS) scripts/test-packages.sh

bench: deps release
	@scripts/bench/lifecycle.sh $(RELEASE)/rune

# Sim enclave lifecycle with and without epm, 8-80 MB images, against plain (table + PNG).
bench-epm: deps release
	@scripts/bench/epm.sh $(RELEASE)

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -j$(JOBS) -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
