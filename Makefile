# v2meow — set-up, tests, demo, benchmarks. `make test` and `make demo` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast demo bench clean help

help:
	@echo "make install   create $(VENV) and install v2meow with its dev extras"
	@echo "make test      install if needed, then run the whole test suite (what CI runs)"
	@echo "make demo      install if needed, then run the main job on the shipped demo bundle"
	@echo "make bench     benchmarks (speed figures for the README)"

# Re-install when the package metadata changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

demo: $(STAMP)
	$(PY) -m v2meow.demo

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
