# causalstream: make demo | make test | make bench  (CI: make lint typecheck test)
# Each target creates .venv and installs what it needs, so a fresh machine needs only python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# BLAS threads capped to one: tigramite and our engine are compared on equal terms.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test lint typecheck bench venv clean ros1-env js-deps FORCE

# setuptools' strict editable install: the venv holds one link per package file (under
# build/__editable__.*), which pyright and mypy can follow (the default mode's import hook they
# cannot). A file added or removed needs new links: $(VENV)/.files lists the package's files and
# changes only when that list does, and then $(VENV)/.linked relinks (no dependencies: seconds).
EDITABLE := --config-settings editable_mode=strict -e

$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(EDITABLE) '.[$*]'
	touch $@

$(VENV)/.files: FORCE
	@mkdir -p $(VENV)
	@find stream models nodes launch -type f ! -path '*/__pycache__/*' ! -name '*.pyc' | LC_ALL=C sort > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

$(VENV)/.linked: $(VENV)/.installed-dev $(VENV)/.files
	$(PY) -m pip install -q --no-deps --no-build-isolation $(EDITABLE) .
	touch $@

venv: $(VENV)/.linked

# The pipeline runs in the background (its output in demo.log); the live table of links runs
# in the foreground. Ctrl-C reaches both (same process group): the launcher stops its nodes
# cleanly. With ARGS="duration:=S" the sim stops after S s, the launch with it, and the table
# exits after S s too.
DEMO_DURATION = $(or $(patsubst duration:=%,%,$(filter duration:=%,$(ARGS))),0)
demo: $(VENV)/.linked
	$(VENV)/bin/causalstream launch launch/demo.yaml $(ARGS) > demo.log 2>&1 & \
	$(VENV)/bin/causalstream graph show --duration $(DEMO_DURATION); \
	wait

test: $(VENV)/.linked ros1-env js-deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The viewer tests' real clients (@foxglove/ws-protocol, @mcap/core), pinned by tests/js/package-lock.json;
# without node or npm one line says so and those tests skip (CI has both)
js-deps:
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
	    test tests/js/node_modules/.package-lock.json -nt tests/js/package-lock.json || \
	    npm ci --prefix tests/js --no-audit --no-fund --silent; \
	else echo "js-deps: node/npm not found: the viewer tests skip"; fi

# Debian's ROS 1 for the ros1_bridge tests (apt-get as root on Debian; else one line, they skip)
ros1-env:
	@sh .ci/ros1_env.sh

# ruff's lint rules and the baseline of older findings: pyproject.toml [tool.ruff]
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

# pyright over stream/, models/, nodes/; fails when the errors outnumber .ci/pyright-baseline
typecheck: $(VENV)/.linked
	$(PY) .ci/typecheck.py

bench: $(VENV)/.installed-bench $(VENV)/.linked
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
