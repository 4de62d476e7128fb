# causalstream: make demo | make test | make bench
# Each target creates .venv and installs what it needs, so a fresh machine needs only python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# BLAS threads capped to one: tigramite and our engine are compared on equal terms.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test bench venv clean

$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$*]'
	touch $@

venv: $(VENV)/.installed-dev

# The pipeline runs in the background (its output in demo.log); the live table of links runs
# in the foreground. Ctrl-C reaches both (same process group): the launcher stops its nodes
# cleanly. With ARGS="duration:=S" the sim stops after S s, the launch with it, and the table
# exits after S s too.
DEMO_DURATION = $(or $(patsubst duration:=%,%,$(filter duration:=%,$(ARGS))),0)
demo: $(VENV)/.installed-dev
	$(VENV)/bin/causalstream launch launch/demo.yaml $(ARGS) > demo.log 2>&1 & \
	$(VENV)/bin/causalstream graph show --duration $(DEMO_DURATION); \
	wait

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(VENV)/.installed-bench
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
