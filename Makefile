# facelake: `make demo` runs the main job end to end; `make test` runs the fast tier of the tests
# (one real end-to-end ingest, audit and the read-only SQL corpus included); `make test-all` runs every test (CI).
# Both create or refresh .venv first (re-installed when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.facelake-installed
DEMO   ?= demo

.PHONY: demo test test-all lint venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/facelake sample --out $(DEMO)/siw --photos $(DEMO)/photos --subjects 8
	$(BIN)/facelake ingest --source $(DEMO)/siw --lake $(DEMO)/lake
	$(BIN)/facelake register --source $(DEMO)/photos --lake $(DEMO)/lake
	$(BIN)/facelake embed --lake $(DEMO)/lake --source photos
	$(BIN)/facelake dedup --lake $(DEMO)/lake --source photos
	$(BIN)/facelake embed --lake $(DEMO)/lake --source frames --every-k 10
	$(BIN)/facelake dedup --lake $(DEMO)/lake --source frames --leakage
	$(BIN)/facelake audit --lake $(DEMO)/lake
	$(BIN)/facelake maintain --lake $(DEMO)/lake
	$(BIN)/facelake train --lake $(DEMO)/lake --out $(DEMO)/models --epochs 10 --batch-size 32 --input-size 96
	$(BIN)/facelake score --lake $(DEMO)/lake --model $(DEMO)/models/P1
	$(BIN)/facelake report --lake $(DEMO)/lake --out $(DEMO)/report.html

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

# ruff: lint (pycodestyle, pyflakes, import order) and format, line length 120 (pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/train.py

clean:
	rm -rf $(DEMO) .pytest_cache
