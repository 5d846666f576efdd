# Pulse: `make demo` runs everything, `make test` passes the tests. Only python3 is needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Layers, ground up; ruff (with each folder's ruff.toml) refuses an import of a layer above.
PYTHON_DIRS := pulse collector pipelines orchestration sample_api bench reliability tests

.PHONY: install manifest demo test lint bench reliability docs dev stop clean

# The virtualenv, rebuilt when the dependencies change. Versions are pinned in constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# dbt's manifest, parsed once here instead of at every Dagster definitions load, as the
# transformer (dbt's role; this starts the embedded server), so every dbt build reuses it.
manifest: install
	$(BIN)/python -c "from pulse.dbt import dbt_connection, prepare_dbt; prepare_dbt(conn=dbt_connection())"

demo: manifest
	$(BIN)/pulse demo

# Two workers, one per core; a test file stays on one worker (its module fixtures are
# built once). Each worker has its own database and dbt target folder (tests/conftest.py),
# where it prepares its own manifest: not `manifest`, which would start the embedded server
# that the tests stop at the end only if they started it.
TEST_WORKERS ?= 2
# The portal's pages are checked in Debian's headless Chromium (tests/test_portal.py).
test: install
	@command -v chromium >/dev/null || \
	  (command -v apt-get >/dev/null && apt-get install -y -q chromium >/dev/null 2>&1) || \
	  echo "chromium is missing (apt-get install chromium): tests/test_portal.py will fail"
	$(BIN)/ruff check $(PYTHON_DIRS)
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/macros dbt_project/tests
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=20

BENCH_ROWS ?= 1000000
BENCH_REPEAT ?= 3
# The events section drives the collector with wrk and hey (Debian packages); without them
# its HTTP figures are reported as not measured.
bench: manifest
	@command -v wrk >/dev/null && command -v hey >/dev/null || \
	  (command -v apt-get >/dev/null && apt-get install -y -q wrk hey >/dev/null 2>&1) || \
	  echo "wrk and hey are missing (apt-get install wrk hey): the events HTTP figures are left out"
	$(BIN)/python -m bench.suite --rows $(BENCH_ROWS) --repeat $(BENCH_REPEAT)

# Faults injected into real runs (crashes, API faults, bad data), checked against the truth:
# one table (reliability/README.md). `make test` runs the same scenarios at a small scale.
reliability: manifest
	$(BIN)/python -m reliability

lint: install
	$(BIN)/ruff check $(PYTHON_DIRS)

docs: manifest
	$(BIN)/pulse docs

dev: manifest
	$(BIN)/pulse dev

stop: install
	$(BIN)/pulse db stop

clean: stop
	rm -rf .warehouse .dagster target logs reports
