# Two commands do all set-up on a fresh machine: `make run` (the chat app) and `make test` (the suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test check lint install ingest clean chromium postgresql screenshots axe

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: left to the resolver, torch would come as a multi-GB CUDA build.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

ingest: $(STAMP)
	$(BIN)/atlas-qa ingest

run: $(STAMP)
	$(BIN)/atlas-qa serve

test: $(STAMP) chromium postgresql axe lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Lint, format and types (part of `make test`): ruff over the Python code, mypy over src/ (settings in pyproject.toml).
LINTED := src tests benchmarks $(wildcard *.py)
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# The fast tests only (no real model, browser, kill loop or PostgreSQL: nothing marked e2e, slow or postgresql; the
# SQLite twins of the PostgreSQL tests run), one pytest-xdist worker per core (`-n logical`): 537 tests in 58 s on a
# near-idle 2-core machine (pytest's count; about a minute with start-up); PYTEST_ARGS="-n 0" runs them in one process. The
# route x role matrix and the docs' API examples run here with the tests' hash embedder (schemathesis is `slow`: make
# test).
check: $(STAMP)
	$(BIN)/python -m pytest -q -n logical -m "not e2e and not slow and not postgresql" $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium through Playwright (never `playwright install`, which downloads).
export CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else \
			echo "$(CHROMIUM) is missing: the browser tests will be skipped (sudo apt-get install -y chromium)"; \
		fi; \
	fi

# The PostgreSQL tests start a throwaway cluster from Debian's server binaries (tests/postgres.py); installed if missing.
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
		else \
			echo "PostgreSQL's server is missing: its tests will be skipped (sudo apt-get install -y postgresql)"; \
		fi; \
	fi

# axe-core (WCAG checks the browser tests inject) from npm into ./node_modules; Node and npm from Debian if missing.
axe:
	@if ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
		else \
			echo "npm is missing: the accessibility tests will be skipped (sudo apt-get install -y nodejs npm)"; \
		fi; \
	fi
	@if command -v npm >/dev/null && [ ! -f node_modules/axe-core/axe.min.js ]; then \
		npm install --no-audit --no-fund --silent; \
	fi

# Retake docs/screenshots/*.png from the browser tests.
screenshots: $(STAMP) chromium axe
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/browser

clean:
	rm -rf $(VENV) node_modules embeddings/chroma embeddings/manifest.sqlite3*
