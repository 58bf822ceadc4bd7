# v2meow — set-up, tests, demo, benchmarks. `make test` and `make demo` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
APP_STAMP := $(VENV)/.app-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: install app-deps app test test-fast demo demo-data demo-bundle proof bench clean help train-codec train-stage1 train-stage2 train-stage3

help:
	@echo "make install   create $(VENV) and install v2meow with its dev extras"
	@echo "make test      install if needed, then run the whole test suite (what CI runs)"
	@echo "make demo      install if needed, then run the main job on the shipped demo bundle"
	@echo "make bench     benchmarks (speed figures for the README)"
	@echo "make app       the web app on the demo bundle (make app-deps installs gradio, playwright, chromium)"

# Re-install when the package metadata changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The web app's extra, Playwright and Debian's chromium for its browser test (Playwright drives
# /usr/bin/chromium; its own browser download is never used). Without chromium that test skips.
$(APP_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,app-test]"
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; } \
		|| echo "app-deps: could not install chromium; tests/app/test_app_browser.py will be skipped"
	touch $(APP_STAMP)

app-deps: $(APP_STAMP)

app: $(APP_STAMP)
	$(VENV)/bin/v2meow-app

test: $(STAMP) $(APP_STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP) $(APP_STAMP)
	$(PY) -m pytest -q -m "not slow"

demo: $(STAMP)
	$(PY) -m v2meow.demo

bench: $(STAMP)
	$(PY) bench/run.py

# Demo data: real game music from Debian packages, cut into clips, with visualizer videos.
demo-data: $(STAMP)
	$(PY) -m v2meow.demo.data --out data/demo
	$(PY) -m v2meow.demo.render --clips data/demo/clips.json --out data/demo/videos --preview 3

# The whole demo-bundle recipe; every step skips finished work and training resumes.
proof: $(STAMP)
	$(PY) -m v2meow.demo.proof

demo-bundle: $(STAMP)
	$(PY) -m v2meow.demo.bundle

# Training (see configs/*.yaml; pass extra flags with ARGS="--data DIR --out DIR ...")
train-codec: $(STAMP)
	$(VENV)/bin/v2meow-train codec --config configs/codec.yaml $(ARGS)

train-stage1: $(STAMP)
	$(VENV)/bin/v2meow-train stage1 --config configs/stage1.yaml $(ARGS)

train-stage2: $(STAMP)
	$(VENV)/bin/v2meow-train stage2 --config configs/stage2.yaml $(ARGS)

train-stage3: $(STAMP)
	$(VENV)/bin/v2meow-train stage3 --config configs/stage3.yaml $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
