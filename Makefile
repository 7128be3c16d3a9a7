# Every target makes its own .venv, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench wheelhouse screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/icu-gateway demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# The docs' screenshots, taken again from the current screens (after looking at the new
# snapshots: tests/tui/test_docs_screenshots.py fails while the two differ).
screenshots: $(STAMP)
	$(BIN)/python -m pytest -q tests/tui/test_dashboard_snapshots.py --snapshot-update
	$(BIN)/python -c "import shutil, sys; sys.path.insert(0, 'tests/tui'); \
	from test_docs_screenshots import DOCS, SHOWN, SNAPSHOTS; \
	[shutil.copyfile(SNAPSHOTS / s, DOCS / d) for d, s in SHOWN.items()]"

# Every wheel the gateway needs, for a laptop that has no network (docs/outage.md):
#   python3 -m venv .venv && .venv/bin/pip install --no-index --find-links wheelhouse icu-gateway
wheelhouse: | $(BIN)/python
	$(BIN)/python -m pip wheel --quiet --wheel-dir wheelhouse .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
