# The two commands a new user needs: `make serve` and `make test`. Both create .venv when it is
# missing and install the project into it, so a fresh clone needs nothing but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DB ?= ./lms-outcomes.db

.PHONY: serve test lint bench bench-postgres fuzz fuzz-takeover screenshot venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The separate distributions in contrib/ (each a folder with its own pyproject.toml) are installed
# beside the project, editable, as a third party's would be: found through their entry points.
CONTRIB := $(wildcard contrib/*/pyproject.toml)

# Reinstall whenever the project's metadata or any contrib distribution's changes.
$(STAMP): pyproject.toml $(CONTRIB) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]' \
		$(foreach project,$(CONTRIB),-e $(dir $(project)))
	touch $(STAMP)

venv: $(STAMP)

serve: $(STAMP)
	$(BIN)/lms-outcomes serve --db $(DB)

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file to each at a time: most
# tests wait on servers, databases and the parse worker, so two workers on two cores halve it.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Not part of `make test`: the import benchmarks of benchmarks/run.py (several minutes). The
# status route's throughput line needs wrk (apt-get install wrk); without it, it says so.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# The same on PostgreSQL: a throwaway server started from the installed binaries.
bench-postgres: $(STAMP)
	$(BIN)/python -m benchmarks.run --postgres

# Not part of `make test`: the outcome tree's state machine (tests/test_tree_properties.py) on
# FUZZ_EXAMPLES random sequences of imports per backend (about a second each), not the suite's
# few fixed ones. A failure prints its shrunk sequence of imports. Then the export's round trip
# (tests/test_export_roundtrip.py) on EXPORT_FUZZ_EXAMPLES random trees per backend (about a
# second each on SQLite, four on PostgreSQL).
FUZZ_EXAMPLES ?= 500
EXPORT_FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	LMS_OUTCOMES_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -s \
		tests/test_tree_properties.py -k random_imports
	LMS_OUTCOMES_EXPORT_FUZZ_EXAMPLES=$(EXPORT_FUZZ_EXAMPLES) $(BIN)/python -m pytest -q \
		tests/test_export_roundtrip.py -k random_tree

# Not part of `make test` (which runs each once): the takeover windows of
# tests/test_takeover_windows.py and the frozen-runner scenarios of tests/test_takeovers.py (two
# real servers on one store, one frozen with SIGSTOP at an exact point), TAKEOVER_RUNS times each
# per backend: about 4 s a scenario. Stops at the first failure.
TAKEOVER_RUNS ?= 20
fuzz-takeover: $(STAMP)
	LMS_OUTCOMES_TAKEOVER_REPEAT=$(TAKEOVER_RUNS) $(BIN)/python -m pytest -q -x \
		tests/test_takeover_windows.py tests/test_takeovers.py

# docs/upload-page.png, the README's picture of the upload page: a throwaway server, Canvas's
# scoring.csv imported through the page in the headless Chromium the tests drive.
screenshot: $(STAMP)
	$(BIN)/python -m tests.page_screenshot docs/upload-page.png

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
