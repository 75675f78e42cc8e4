# Rounds: `make run` brings the service up with sample content; `make test` runs the suite.
# Both create .venv and install what they need first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-future lint format bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@test -f .env || cp .env.example .env
	$(BIN)/rounds dev

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
BROWSER := /usr/bin/chromium

$(BROWSER):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "could not install chromium: the browser tests will be skipped"; \
	else \
		echo "chromium is missing and cannot be installed here: the browser tests will be skipped"; \
	fi

test: $(STAMP) $(BROWSER)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The SQLite half of the suite with every process's clock 400 days ahead (libfaketime), so
# that nothing depends on the day it runs. The monotonic clock is left alone (Redis, RQ and
# thread waits rely on it); the small preload fixes libfaketime 0.9.10's absolute monotonic
# sleeps, which Python 3.11's time.sleep uses.
SLEEP_FIX := $(VENV)/monotonic_sleep.so

# faketime, and a C compiler for the preload, installed when missing (as root with apt-get).
/usr/bin/faketime:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime gcc libc6-dev >/dev/null; \
	else \
		echo "make test-future needs faketime and a C compiler: apt-get install faketime gcc"; exit 1; \
	fi

$(SLEEP_FIX): tests/future/monotonic_sleep.c /usr/bin/faketime $(STAMP)
	@command -v cc >/dev/null || { echo "make test-future needs a C compiler: apt-get install gcc"; exit 1; }
	cc -shared -fPIC -O2 -Wall -o $@ $< -ldl

test-future: $(STAMP) $(BROWSER) $(SLEEP_FIX)
	ROUNDS_TEST_SKIP_PG=1 FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD=$(abspath $(SLEEP_FIX)) \
		faketime -m -f '+400d' $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy flows content store workers

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache test-artifacts
