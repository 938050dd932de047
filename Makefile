# The two commands of the README: `make run` and `make test`. Everything they need is
# installed here (into .venv, and clients/typescript/node_modules), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: run test lint typecheck chromium fuse prometheus screenshot test-python test-typescript test-power bench model clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Two distributions from this repository (docs/decisions/0009-distributions.md): the
# client `disqueue` (clients/python) and the server `disqueue-server` (here), which
# depends on it; both editable, so the one `disqueue` package spans both source trees.
# Stamps: reinstall only when a pyproject.toml changes.
PYCLIENT := clients/python

$(VENV)/.run-deps: pyproject.toml $(PYCLIENT)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e $(PYCLIENT) -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml $(PYCLIENT)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e $(PYCLIENT) -e '.[test]'
	touch $@ $(VENV)/.run-deps

# The TypeScript client (clients/typescript): npm installs its locked dependencies
# into node_modules, again only when package.json or package-lock.json change.
TS     := clients/typescript
NODE_MAJOR_MIN := 20

$(TS)/node_modules/.installed: $(TS)/package.json $(TS)/package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= $(NODE_MAJOR_MIN) ? 0 : 1)' \
		|| (echo "clients/typescript needs Node.js >= $(NODE_MAJOR_MIN), found $$(node --version)" >&2; exit 1)
	cd $(TS) && npm ci --no-audit --no-fund
	touch $@

run: $(VENV)/.run-deps
	$(BIN)/disqueue $(ARGS)

lint: $(VENV)/.test-deps
	$(BIN)/ruff check src $(PYCLIENT) tests bench
	$(BIN)/ruff format --check src $(PYCLIENT) tests bench

typecheck: $(VENV)/.test-deps
	$(BIN)/mypy

# Both suites run; `make test` fails if either does.
test: lint typecheck
	@status=0; \
	$(MAKE) --no-print-directory test-python || status=1; \
	$(MAKE) --no-print-directory test-typescript || status=1; \
	exit $$status

# The dashboard tests drive Debian's Chromium (never a browser downloaded by Playwright).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The power-loss disk (tests/powerfs.py) needs the kernel's FUSE (/dev/fuse) and
# Debian's fuse3 (libfuse3 and fusermount3).
fuse:
	@command -v fusermount3 >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null)

# The alert rules of examples/prometheus are checked by Debian's promtool, and a test
# runs a real Prometheus (tests/e2e/test_prometheus.py). Without its Recommends (no node
# exporter); the tests start their own Prometheus on a free port with a temporary
# configuration and data directory, so the package's own service (which a systemd
# machine starts on :9090 at install, and a container's policy-rc.d does not) is never used
# and changes nothing for them.
prometheus:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		prometheus >/dev/null)

test-python: $(VENV)/.test-deps chromium fuse prometheus
	scripts/ensure-postgres
	$(BIN)/pytest $(ARGS)

# The README's screenshot (docs/dashboard.png) is the one the dashboard test takes.
screenshot: $(VENV)/.test-deps chromium
	DISQUEUE_README_SCREENSHOT=docs/dashboard.png $(BIN)/pytest tests/e2e/test_dashboard.py \
		-k overview -p no:cacheprovider -s $(ARGS)

# The long version of the power-loss and I/O-fault tests (`make test` runs a few rounds).
POWER_ROUNDS ?= 25
test-power: $(VENV)/.test-deps fuse
	DISQUEUE_POWER_ROUNDS=$(POWER_ROUNDS) $(BIN)/pytest -s tests/e2e/test_power_loss.py \
		tests/e2e/test_io_faults.py $(ARGS)

# tsc (strict) builds the package and its tests; `node --test` runs them against the
# real server from .venv.
test-typescript: $(VENV)/.run-deps $(TS)/node_modules/.installed
	cd $(TS) && npm test

# The model test of the delivery contract with many more examples than `make test`
# (MODEL_EXAMPLES per backend; memory, SQLite and PostgreSQL).
MODEL_EXAMPLES ?= 3000
model: $(VENV)/.test-deps
	scripts/ensure-postgres
	DISQUEUE_MODEL_EXAMPLES=$(MODEL_EXAMPLES) $(BIN)/pytest tests/conformance/test_model.py -p no:cacheprovider --durations=3 $(ARGS)

# The peers' client libraries (the `bench` extra) only for the benchmarks.
$(VENV)/.bench-deps: $(VENV)/.test-deps
	$(BIN)/python -m pip install -q -e $(PYCLIENT) -e '.[test,bench]'
	touch $@

# bench/run.py (the HTTP and WebSocket rows), then bench/peers.py (Disqueue beside
# Redis, RabbitMQ, NATS and PostgreSQL; PEERS_ARGS="--rounds 3" etc.), bench/sqlite_ceiling.py
# (what SQLite alone does for the README's worker's durable work).
PEERS_ARGS ?=
# bench/sqs.py: the SQS endpoint through boto3 beside moto_server (SQS_ARGS="--rounds 5").
SQS_ARGS ?=
bench: $(VENV)/.bench-deps
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py $(ARGS)
	$(BIN)/python bench/http_stacks.py $(HTTP_ARGS)
	$(BIN)/python bench/peers.py $(PEERS_ARGS)
	$(BIN)/python bench/sqlite_ceiling.py
	$(BIN)/python bench/sqs.py $(SQS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
	rm -rf $(TS)/node_modules $(TS)/dist $(TS)/build-test
	rm -rf build $(PYCLIENT)/build src/*.egg-info $(PYCLIENT)/src/*.egg-info
