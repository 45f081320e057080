# Entry points are the same locally and in CI (.ci/run calls `make check test`).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test check lint imports types bench bench-api bench-report bench-insight bench-experiments bench-recall bench-cluster insight-demo faults clean tools model-fit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## demo: embedded broker + Redis + worker + simulator; profiles change on screen (Ctrl-C stops)
demo: $(VENV)/.installed
	$(BIN)/portrait up --simulate

## test: unit and integration tests against a real broker and Redis (embedded or containers)
test: $(VENV)/.installed
	$(BIN)/pytest -q

## tools: Prometheus and promtool (Debian packages) for the deploy/ proof tests, and chromium
## for the 360° page's browser test; needs root unless they are already there
tools:
	bash .ci/install-prometheus
	bash .ci/install-chromium

## check: lint, format, the rooms' import contracts and strict typing of the packages
check: lint imports types
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
imports: $(VENV)/.installed
	$(BIN)/lint-imports
types: $(VENV)/.installed
	$(BIN)/mypy

## bench: worker throughput against the raw aiokafka ceiling on the same topic
bench: $(VENV)/.installed
	$(BIN)/python -m bench.throughput

## bench-report: every benchmark of docs/benchmarks.md (throughput synthetic and Taobao with the
## naive faust agent, live latency, scale-out), then the page and its plots (about 15 minutes)
bench-report: $(VENV)/.installed
	$(BIN)/python -m bench.report --run

## insight-demo: docs/insight.md's demo (REES46 and Taobao replayed, two segments of each
## compared) into .portrait/insight-demo/, and its pictures into docs/img/insight/
insight-demo: $(VENV)/.installed
	$(BIN)/python docs/examples/insight/demo.py .portrait/insight-demo --docs

## bench-insight: `portrait insight` of two segments over 1M stored profiles (100k first): time,
## profiles/s and the command's peak RSS at both sizes (bounded memory, issue 16; about 3 minutes)
bench-insight: $(VENV)/.installed
	$(BIN)/python -m bench.insight --profiles 1000000

## bench-api: GET /v1/profiles/{id} of the real `portrait api` at 1,000 req/s and at its highest
## sustained rate, beside a raw Redis GET of the same keys from the same client (about 2 minutes)
bench-api: $(VENV)/.installed
	$(BIN)/python -m bench.api

## model-fit: a purchase-gender model tag fitted on 3,000 simulated users (their gender is the
## simulator's known truth) and applied by the stream: accuracy, AUC, coverage (about a minute)
model-fit: $(VENV)/.installed
	$(BIN)/python -m bench.model_fit

## bench-experiments: 200 seeded A/B experiments through the real worker, scheduler, feedback
## service and a simulated provider: how often each interval holds the true uplift (>= 95 %)
bench-experiments: $(VENV)/.installed
	$(BIN)/python -m bench.experiments --runs 200

## bench-recall: `portrait recall report` over 1M recall messages (100k first): time and the
## command's peak RSS and its growth per message (issue 16; about 2 minutes)
bench-recall: $(VENV)/.installed
	$(BIN)/python -m bench.recall --messages 1000000

## bench-cluster: the worker on one Redis and on a 3-master Redis Cluster over the same events:
## events/s, the cluster's over the single's, worker and Redis CPU per event (docs/cluster.md)
bench-cluster: $(VENV)/.installed
	$(BIN)/python -m bench.cluster --events 200000

## faults: the fault suite, long (worker and Redis kills, a frozen broker, a duplicate storm,
## a tiny cache): a table of events, kills, restarts, users compared, lost, doubled (10-20 min)
faults: $(VENV)/.installed
	$(BIN)/python -m bench.faults

clean:
	rm -rf $(VENV) .portrait .pytest_cache .mypy_cache .ruff_cache *.egg-info
