# evalkit developer tasks. `make test` does all set-up on a fresh machine, then runs the tests.
PY ?= python3
PIP = $(PY) -m pip install --disable-pip-version-check -q
PYTEST_ARGS ?= -n 2

.PHONY: setup setup-browser demo test check lint typecheck bench

setup: setup-browser
	$(PIP) -e '.[dev,local]'

# Debian's chromium drives the HTML report tests (skipped with a reason when absent).
setup-browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "note: chromium not found; browser tests will be skipped"; fi; }

demo:
	$(PIP) -e '.[local]'
	evalkit run suites/pydocs_smoke.yaml

# pytest exits 5 when it collected no tests: say so instead of failing.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected"; exit 0; fi; exit $$rc

lint:
	$(PY) -m ruff check evalkit tests benchmarks

typecheck:
	$(PY) -m mypy evalkit

check: lint typecheck

bench:
	$(PY) benchmarks/bench_overhead.py
