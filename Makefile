# handoff: `make run` runs the scenario suite in release mode; `make test` runs the unit and integration tests.
SWIFT ?= swift
JOBS ?= 2
RUN_ARGS ?=

.PHONY: all build release run test deps clean html-check bench compare-demo agents fuzz environments kernels vm-runner run-kernels matrix

all: build

# libcap-dev provides <sys/capability.h> and libcap.so for the C shim.
deps:
	@if ! dpkg -s libcap-dev >/dev/null 2>&1; then \
		echo "installing libcap-dev"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcap-dev >/dev/null; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

run: release
	.build/release/handoff run scenarios --jobs $(JOBS) --report reports/latest $(RUN_ARGS)

# The integration tests spawn the agent built beside the test bundle, so build every product first.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# The agents in other languages (IMPLEMENTATIONS.md): C always; Go with Debian's golang-go (installed
# when missing); Python needs nothing but python3. `handoff run --agent c|go|python` picks one.
agents:
	$(MAKE) -C agents/c
	@if [ -d agents/go ]; then \
		command -v go >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null); \
		$(MAKE) -C agents/go; \
	fi
	@if [ -d agents/python ]; then \
		command -v python3 >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null); \
	fi

# The runtimes `handoff run --in` uses (docs/environments.md); unshare and setpriv come with util-linux.
environments:
	@missing=""; for p in bwrap:bubblewrap runc:runc crun:crun runsc:runsc; do \
		command -v $${p%%:*} >/dev/null || missing="$$missing $${p#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
# Other kernels (docs/kernels.md): qemu, busybox-static and Debian's newest 6.1 and 6.12 linux-image packages
# (apt-get download) unpacked into .build/kernels, and the runner `run --kernel` carries into the guest.
kernels: deps vm-runner
	bash tools/kernels.sh

# The runner and agent `run --kernel` carries: fully static executables (--static-swift-stdlib and
# -static-executable), so the guest needs none of the 75 MB of shared Swift, Foundation and ICU libraries
# nor any other; and a non-PIE binary starts faster under TCG (no relocation pass over 88 MB).
# Linked without symbols (--strip-all): 63 and 8 MB instead of 91 and 13, which the guest kernel unpacks from
# the initramfs under emulation on every boot.
vm-runner: deps
	$(SWIFT) build -c release --static-swift-stdlib -Xswiftc -static-executable -Xlinker --strip-all --scratch-path .build/static

# Every cached kernel in turn, reports in reports/kernel-<release>/.
# Under TCG the guest's suite is fastest at four jobs on two virtual CPUs (29-30 s cold to report against 38-39 s
# at two: MATRIX.md), so kernel runs have their own default.
KERNEL_JOBS ?= 4
run-kernels: release vm-runner
	@for k in $$(ls .build/kernels); do \
		echo "== $$k"; .build/release/handoff run scenarios --kernel $$k --jobs $(KERNEL_JOBS) --report reports/kernel-$$k $(RUN_ARGS) || status=1; \
	done; exit $${status:-0}

# The catalog in every environment of matrix.yaml (containers, gVisor, Debian's kernels, the other agents)
# and one report across them in reports/matrix (matrix.md, matrix.html, matrix.json). What is missing here is
# reported as unavailable; `make environments kernels agents` first to have every column.
MATRIX ?= matrix.yaml
matrix: release
	.build/release/handoff matrix $(MATRIX) --report reports/matrix $(MATRIX_ARGS)

# Random scenarios against the model for FUZZ_TIME (docs/fuzz.md); repros go to reports/fuzz.
FUZZ_TIME ?= 60s
fuzz: release
	.build/release/handoff fuzz --duration $(FUZZ_TIME) --jobs $(JOBS) --report reports/fuzz

# Looks at the last run's report.html in a real browser (Debian's chromium, installed when missing):
# a screenshot and the rendered DOM, which must show the summary line.
html-check:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	chromium --headless --no-sandbox --disable-gpu --window-size=1000,1400 \
		--screenshot=reports/latest/report.png file://$(CURDIR)/reports/latest/report.html 2>/dev/null
	chromium --headless --no-sandbox --disable-gpu --dump-dom file://$(CURDIR)/reports/latest/report.html 2>/dev/null \
		| grep -q '<h1>handoff: ' && echo "report.html renders: reports/latest/report.png"

# The C floor and handoff's equivalents, interleaved; prints the ratio table kept in BENCHMARKS.md.
compare-demo:
	bash tools/compare-demo.sh

bench: deps
	bash benchmarks/bench.sh

clean:
	rm -rf .build reports/latest
