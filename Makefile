# cagent-sidecar: `make run` and `make test` work on a fresh machine; each sets up
# what is missing first.

PYTHON      := /usr/bin/python3.11
VENV        := .venv
VENV_PY     := $(VENV)/bin/python
STAMP       := $(VENV)/.requirements-installed
SWIFT_FLAGS ?=
RUN_ARGS    ?= --token-file .cagent-token

.PHONY: all setup lock system libpython build run test test-swift test-python test-examples bench clean bundle bundle-profile test-bundle bench-bundle soak

all: build

# Debian's CPython 3.11: the interpreter whose libpython the host links, and its venv
# module; zstd's header (the single file's payload, Sources/CZstd) and program (make bundle).
system:
	@if ! pkg-config --exists python3-embed || ! [ -x $(PYTHON) ] || ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 \
		|| ! [ -f /usr/include/zstd.h ] || ! command -v zstd >/dev/null; then \
		echo "setup: installing python3-dev, python3.11-venv, libzstd-dev and zstd with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev python3.11-venv pkg-config libzstd-dev zstd; \
	fi

# The project's virtual environment, made by that same interpreter (never the first
# python3 on PATH). A venv made by another interpreter is recreated. It holds exactly
# python/requirements-dev.lock (the runtime lock's versions plus the test tools), each
# file checked against the lock's hashes; anything else installed there is removed.
setup: system $(STAMP)

$(STAMP): python/requirements.lock python/requirements-dev.lock python/requirements.txt python/requirements-dev.txt
	@if [ -f $(VENV)/pyvenv.cfg ] && ! grep -qx 'home = /usr/bin' $(VENV)/pyvenv.cfg; then \
		echo "setup: $(VENV) was made by another interpreter; recreating it with $(PYTHON)"; \
		rm -rf $(VENV); \
	fi
	@[ -x $(VENV_PY) ] || { echo "setup: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@$(VENV_PY) python/tests/lockfile.py sources python/requirements.lock python/requirements.txt
	@$(VENV_PY) python/tests/lockfile.py sources python/requirements-dev.lock python/requirements.txt python/requirements-dev.txt
	@echo "setup: installing python/requirements-dev.lock into $(VENV) (--require-hashes)"
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r python/requirements-dev.lock
	@$(VENV_PY) python/tests/lockfile.py sync python/requirements-dev.lock
	@touch $@

# Refreshes the locks to the newest versions python/requirements*.txt allow, with the
# hashes of every file PyPI has for them (pip-tools, in a venv of its own). The dev lock
# is constrained by the runtime lock, so both name the same version of what they share.
LOCK_VENV   := .build-lock/venv
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" ../$(LOCK_VENV)/bin/pip-compile --quiet --upgrade \
	--generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links

lock: system
	@[ -x $(LOCK_VENV)/bin/pip-compile ] || { rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/pip install --quiet --disable-pip-version-check 'pip-tools>=7.4,<8'; }
	cd python && $(PIP_COMPILE) -o requirements.lock requirements.txt
	cd python && $(PIP_COMPILE) -c requirements.lock -o requirements-dev.lock requirements.txt requirements-dev.txt

# Every host links Debian's PGO-built libpython3.11.a, not libpython3.11.so (Python ~10 %
# faster; toolchain/libpython.sh says how and why). $(SWIFT) and $(LINK_FLAGS) go together
# on every swift command that builds, or SwiftPM relinks against the shared library.
LIBPYTHON  := $(CURDIR)/.build-python
SWIFT      := PKG_CONFIG_PATH=$(LIBPYTHON)/pkgconfig swift
LINK_FLAGS  = $$(cat $(LIBPYTHON)/link-flags)

libpython: system
	@toolchain/libpython.sh $(LIBPYTHON) $(PYTHON)

build: setup libpython
	$(SWIFT) build $(SWIFT_FLAGS) $(LINK_FLAGS)
	@$(call finish,$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path))

# The bench's control, beside the host it is compared with: CPython's own main on the
# same libpython, linked the same way (bench/cagent-python.c). Built with the Swift
# toolchain's own clang (there wherever swift is) but not by SwiftPM, which would link the
# Swift runtime into it (swiftrt.o needs libswiftCore, ~3 MB more RSS).
CONTROL_CC ?= $(shell dirname "$$(command -v swift)")/clang

# finish,BIN: refuses a host that needs libpython3.11.so (a swift command without
# $(SWIFT) and $(LINK_FLAGS) relinked it), then builds the control beside it.
finish = bin="$(1)"; \
	if readelf -d "$$bin/cagent-sidecar" | grep -q 'NEEDED.*libpython'; then \
		echo "build: $$bin/cagent-sidecar needs libpython3.11.so; expected the static link of toolchain/libpython.sh" >&2; exit 1; \
	fi; \
	echo "build: $$bin/cagent-python (the control)"; \
	$(CONTROL_CC) -O2 -Wall -o "$$bin/cagent-python" bench/cagent-python.c $$(cat $(LIBPYTHON)/cflags) $$(cat $(LIBPYTHON)/libs)

run: build
	$(SWIFT) run $(SWIFT_FLAGS) $(LINK_FLAGS) cagent-sidecar run $(RUN_ARGS)

test: test-python test-swift test-examples test-bundle

# The service's tests, then the host's Python half (cagent_host), then the bundle's tools.
test-python: setup
	cd python && ../$(VENV_PY) -m pytest -q
	$(VENV_PY) -m pytest -q Tests/host_python
	$(VENV_PY) -m pytest -q bundle/tests

# One CPython runtime per process: the Bridge tests keep one interpreter alive while
# the host tests initialize and finalize their own, so each target runs in a process
# of its own.
SWIFT_TEST_TARGETS := CagentJSONTests BridgeTests EmbeddedHostTests CagentBenchTests LoopbackTests CagentClientTests SubprocessTests

test-swift: build
	$(SWIFT) build --build-tests $(SWIFT_FLAGS) $(LINK_FLAGS)
	@for target in $(SWIFT_TEST_TARGETS); do \
		echo "swift test: $$target"; \
		$(SWIFT) test --skip-build $(SWIFT_FLAGS) $(LINK_FLAGS) --filter "^$$target\." || exit 1; \
	done

# An app that embeds the service (docs/embedding.md): Examples/EmbedService, a package of
# its own depending on this one by path, built as an app is (toolchain/swift-build-app.sh:
# libpython linked in) and run; it exits 0 when every step answered as expected.
test-examples: setup libpython
	cd Examples/EmbedService && ../../toolchain/swift-build-app.sh --product EmbedService
	Examples/EmbedService/.build/debug/EmbedService

# Shipping (docs/shipping.md): dist/cagent-sidecar/ (a relocatable folder) and
# dist/cagent-sidecar.run (a single file), from a release build of its own in
# $(BUNDLE_SCRATCH) with libpython and the Swift runtime linked statically.
BUNDLE_SCRATCH ?= .build-bundle

bundle: setup libpython
	BUNDLE_SCRATCH=$(BUNDLE_SCRATCH) LIBPYTHON=$(LIBPYTHON) bundle/build.sh

# Both outputs where no Python can be found (a private mount namespace: root and
# unshare -m), serving the whole API; the single file's cache cases.
test-bundle: bundle
	bundle/test.sh

# The functions a start and an idle service run, which make bundle links first
# (bundle/hot-functions.txt), measured under valgrind's callgrind.
bundle-profile: bundle
	bundle/profile.sh

# Launch times of the single file (first, later) beside the folder; PYINSTALLER=... adds
# a PyInstaller --onefile build of the same service.
bench-bundle: bundle
	bundle/bench.sh

# Every product, cagent-python (the control) included, then the bench from that build:
# cagent-bench (full Foundation, never shipped) runs the cagent-sidecar beside it.
bench: build
	$(SWIFT) build $(SWIFT_FLAGS) $(LINK_FLAGS) -c release
	@$(call finish,$$($(SWIFT) build $(SWIFT_FLAGS) -c release --show-bin-path))
	"$$($(SWIFT) build $(SWIFT_FLAGS) -c release --show-bin-path)/cagent-bench"

# Sustained load for figures, not part of `make test` (bench/soak.py): 50 concurrent
# streamed runs and 4 clients calling execute for SOAK_SECONDS; fails on a stream that
# does not end with its result or on any 5xx. SOAK_ARGS=--mode subprocess for the child.
SOAK_SECONDS ?= 60
SOAK_ARGS    ?=

soak: build
	$(VENV_PY) bench/soak.py --binary "$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)/cagent-sidecar" --seconds $(SOAK_SECONDS) $(SOAK_ARGS)

clean:
	rm -rf .build $(LIBPYTHON) $(BUNDLE_SCRATCH) dist Examples/EmbedService/.build
