# Two commands for a newcomer: `make run` and `make test`. Both build .venv from pyproject.toml first.
# `make demo` shows the dashboard at once: generated data in its own file, never in the real database.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

DEMO_DB ?= data/demo.db

.PHONY: run demo test bench check chat clean postgresql

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m bot serve

# fresh made-up data dated up to today (each run replaces the last), then the server on that file
demo: $(STAMP)
	$(PY) -m analytics demo --db $(DEMO_DB) --force
	DIGIGUIDE_DB=$(DEMO_DB) $(PY) -m bot serve

chat: $(STAMP)
	$(PY) -m bot chat

check: $(STAMP)
	$(PY) -m bot check

# Browser tests drive Debian's Chromium through Playwright (no browser download); install it if missing.
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "chromium not installed: browser tests will be skipped"

# The poster test rasterises a PDF with poppler's pdftoppm; install it the same way.
PDFTOPPM ?= /usr/bin/pdftoppm
$(PDFTOPPM):
	@command -v apt-get >/dev/null && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; } || echo "poppler-utils not installed: the PDF rasterising test will be skipped"

# The PostgreSQL tests and benchmarks start a throw-away server of their own from Debian's postgresql package
# (tests/pgserver.py); install it if no initdb is there. Debian keeps initdb outside PATH, hence the shell check.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { command -v apt-get >/dev/null && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || echo "postgresql not installed: PostgreSQL tests will be skipped"; }

test: $(STAMP) $(CHROMIUM) $(PDFTOPPM) postgresql
	$(PY) -m bot check
	$(PY) -m pytest -n auto  # one test process per core (each with its own PostgreSQL server and temporary folders)

bench: $(STAMP) postgresql
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
