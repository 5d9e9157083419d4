# handoff: `make run` runs the scenario suite in release mode; `make test` runs the unit and integration tests.
SWIFT ?= swift
JOBS ?= 2
RUN_ARGS ?=

.PHONY: all build release run test deps clean

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

clean:
	rm -rf .build reports/latest
