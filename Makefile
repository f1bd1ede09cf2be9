# The two Quick-start commands: `make study` (the main job) and `make test` (what CI runs).
# Both create .venv on first use; torch is pinned by constraints.txt (CPU build, 2.13.0).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROFILE ?= standard
OUT ?= study

.PHONY: install test lint study bench screenshots clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs
	$(BIN)/mypy

# two processes, whole test files each (module fixtures built once): 13 min here instead of 19
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

study: $(STAMP)
	$(BIN)/medgen study --out $(OUT) --profile $(PROFILE)

# One screenshot per chapter of the report in $(OUT), into docs/screenshots/ (Debian's chromium).
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py $(OUT)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_data_make.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
