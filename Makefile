# SmartGrowth CRM. `make demo` and `make test` do all the set-up they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall whenever the declared or pinned dependencies change.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: docs help install system-deps browser-deps kafka-jars test test-unit test-faults test-faults-long demo up lint typecheck schemas lock clean bench bench-quick bench-gateway

help:
	@echo "make demo       set up, run the pipeline on the embedded defaults, print the report"
	@echo "make test       set up, run every test (real Kafka and PostgreSQL)"
	@echo "make test-unit  the fast tests that need no servers"
	@echo "make test-faults  the fault suite: kills, restarts, outages and hostile input under load (minutes)"
	@echo "make test-faults-long  every fault, round after round, under load for CRM_FAULTS_MINUTES (default 20)"
	@echo "make up         the whole stack in the foreground until Ctrl-C"
	@echo "make lint       ruff and mypy"
	@echo "make bench      every benchmark, one table, bench/results/<date>.json (under 20 minutes)"
	@echo "make bench-quick  the same suite, small: a smoke run (under 3 minutes), not to quote"
	@echo "make docs       regenerate docs/cli.md and docs/configuration.md (a unit test fails when they are stale)"
	@echo "make schemas    regenerate schemas/ (v<N>/ per contract version, asyncapi.yaml) from the models"
	@echo "make clean      remove .venv and .crm (all local data)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

system-deps:
	@infra/install-system-deps.sh

# Resolve the pinned Kafka broker from Maven Central once (cached under .crm/kafka and ~/.m2).
kafka-jars: $(STAMP) system-deps
	@$(BIN)/crm infra prepare

install: $(STAMP) system-deps kafka-jars

# The dashboard test needs Debian's chromium (installed here when missing and running as root).
browser-deps:
	@CRM_NEED_BROWSER=1 infra/install-system-deps.sh

test: install browser-deps
	$(BIN)/pytest -q

test-unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# Not part of `make test` (pyproject's norecursedirs leaves tests/faults out unless named): it runs
# its own Kafka and PostgreSQL, kills and restarts them and every service under load (about 8-12
# minutes on 2 shared cores; .ci/run runs it after `make test`). The figures of the run go to
# .crm/faults/last-run.jsonl (docs/reliability.md quotes them).
test-faults: install
	rm -f .crm/faults/last-run.jsonl
	$(BIN)/pytest -q tests/faults
	@cat .crm/faults/last-run.jsonl

# Not in CI: the faults of the suite, one after another round after round, for CRM_FAULTS_MINUTES.
test-faults-long: install
	$(BIN)/pytest -q tests/faults/long_run.py
	@tail -1 .crm/faults/last-run.jsonl

demo: install
	$(BIN)/crm demo

up: install
	$(BIN)/crm up

# Every benchmark (bench/harness.py BENCHMARK_MODULES) on the local stack: one table, each figure
# beside its ceiling and baseline measured in the same run, bench/results/<date>.json (docs/benchmarks.md).
bench: install
	PYTHONPATH=. $(BIN)/python -m bench

bench-quick: install
	PYTHONPATH=. $(BIN)/python -m bench --quick

lint: $(STAMP)
	$(BIN)/ruff check services tests
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/python -m crm.cli.reference --write
	$(BIN)/python -m crm.settings_reference docs/configuration.md

schemas: $(STAMP)
	$(BIN)/crm schemas generate

# Refresh the pins after changing dependencies in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q --upgrade pip && .lock-venv/bin/pip install -q -e '.[dev]'
	.lock-venv/bin/pip freeze --all --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .crm

# One benchmark alone (also: query, alerts, rebuild, freshness, projector_replay), in the same table form.
bench-gateway: install
	PYTHONPATH=. $(BIN)/python -m bench gateway
