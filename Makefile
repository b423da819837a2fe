# The README's two commands: `make run` and `make test`. Both start from a bare machine.
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test test-shifted lock lint node chromium pdf clean bench bench-quick wrk

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# Installs come from the lock (requirements/*.txt: every package pinned with its hashes, for Python
# 3.11 and 3.12 alike), then the project itself without dependencies: hash-checking mode refuses a
# plain editable install, and the build backend is locked too (no build isolation).
LOCKED := $(PIP) install --require-hashes -r
PROJECT := $(PIP) install --no-deps --no-build-isolation -e .

$(VENV)/.installed-run: pyproject.toml requirements/run.txt | $(VENV)/bin/python
	$(LOCKED) requirements/run.txt
	$(PROJECT)
	touch $@

$(VENV)/.installed-test: pyproject.toml requirements/test.txt | $(VENV)/bin/python
	$(LOCKED) requirements/test.txt
	$(PROJECT)
	touch $@ $(VENV)/.installed-run

# Refreshes the lock to the newest releases that pyproject.toml's ranges and
# requirements/constraints.txt allow; a refreshed lock lands only with a green `make test`
# (docs/dependencies.md). uv resolves once for every Python and platform (a universal lock).
UV_VERSION := 0.13.9
UV_COMPILE := $(VENV)/bin/uv pip compile --universal --generate-hashes --python-version 3.11 \
  --custom-compile-command 'make lock' -c requirements/constraints.txt --upgrade
BUILD_REQUIRES := $(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')"

lock: | $(VENV)/bin/python
	$(PIP) install uv==$(UV_VERSION)
	$(BUILD_REQUIRES) | $(UV_COMPILE) pyproject.toml - --extra test -o requirements/test.txt
	$(BUILD_REQUIRES) | $(UV_COMPILE) pyproject.toml - -c requirements/test.txt -o requirements/run.txt

# js/dist is committed and checked fresh by `make test`: serving needs no JS toolchain.
# `make run PORT=8080 HOST=0.0.0.0` listens elsewhere.
PORT ?= 8000
HOST ?= 127.0.0.1
run: $(VENV)/.installed-run pdf
	$(VENV)/bin/percus serve --host $(HOST) --port $(PORT)

# From npm at the versions of each package-lock.json (no install scripts, no browser download): the
# JS build's minifier (js/: terser, run by `percus build-js`) and the Playwright Test example of
# docs/testing-your-embed.md (examples/playwright-test/, run by e2e/test_examples.py).
NODE_PROJECTS := js examples/playwright-test
node: $(NODE_PROJECTS:%=%/node_modules/.installed)
%/node_modules/.installed: %/package.json %/package-lock.json
	cd $* && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# Playwright drives Debian's Chromium; never `playwright install` (no download here).
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian chromium for the e2e tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# WeasyPrint (the weekly digest) loads Pango and HarfBuzz and needs a font; the digest tests turn the
# PDF into text and images with poppler-utils.
PDF_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils
pdf:
	@dpkg -s $(PDF_PACKAGES) >/dev/null 2>&1 || { \
	  echo "installing $(PDF_PACKAGES) for the PDF digest"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PDF_PACKAGES) >/dev/null; }

# ruff, then types (mypy strict, pyproject.toml), then the layers (import-linter: translator < pipeline
# < gateway < percus; its cache once served a stale graph after files moved, so none).
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy translator pipeline gateway percus js
	$(VENV)/bin/lint-imports --no-cache

# The fast tests (no e2e, no slow) with the wall clock of every Python process they start moved
# DAYS ahead (tests/clock_shift/): a test that depends on today's date fails now, not on that day.
# time_machine is imported before pytest loads it as a plugin, hence the one ignored warning.
shifted = echo "== the fast tests with the clock $(1) days ahead" && PERCUS_TEST_CLOCK_SHIFT_DAYS=$(1) \
  PYTHONPATH=tests/clock_shift $(VENV)/bin/pytest -q -m "not e2e and not slow" \
  -W ignore::pytest.PytestAssertRewriteWarning

# The bundles are committed (and packaged) as built: a stale one fails here, before the suite.
# tests/suite.sh runs the e2e and slow tests beside the fast ones (those with the clock 400 days ahead).
test: $(VENV)/.installed-test node chromium pdf lint
	$(VENV)/bin/percus build-js --check
	tests/suite.sh

SHIFTS := 45 400
test-shifted: $(VENV)/.installed-test pdf
	$(foreach days,$(SHIFTS),$(call shifted,$(days)) && ) true

clean:
	rm -rf $(VENV) $(NODE_PROJECTS:%=%/node_modules) percus-data .pytest_cache .ruff_cache .mypy_cache

# Benchmarks print `name: value unit (ratio R vs baseline)`; JSON copies go to bench/results/.
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

BENCHMARKS := ingest batch_cpu request_cpu compact query freshness bundles coldstart rawfile writer

bench: $(VENV)/.installed-test wrk
	@for b in $(BENCHMARKS); do $(PY) -m bench.$$b --json bench/results/$$b.json || exit 1; done
	@$(PY) -m bench.goals

bench-quick: $(VENV)/.installed-test wrk
	@for b in $(BENCHMARKS); do $(PY) -m bench.$$b --quick --json bench/results/$$b.json || exit 1; done
	@$(PY) -m bench.goals
