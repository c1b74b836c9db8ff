# syncd: `make run` starts it, `make test` tests it. `make help` lists every target.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test bench fuzz lint clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): setup.cfg pyproject.toml tests/plugins/syncd-echo-channel/setup.cfg
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "syncd needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,aws]'
	$(BIN)/pip install --quiet -e tests/plugins/syncd-echo-channel
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install syncd with its test and aws extras, and the test plugin

config.yaml:
	cp config.example.yaml config.yaml
	@echo "created config.yaml from config.example.yaml: edit it, or run as is for a dry-run"

run: $(STAMP) config.yaml ## start syncd serve with config.yaml (dry-run until URLs are set)
	$(BIN)/syncd --config config.yaml serve

test: $(STAMP) ## run the whole test suite
	$(BIN)/python -m pytest

bench: $(STAMP) ## run the benchmarks and print their figures
	$(BIN)/python bench/run.py

FUZZ_SECONDS ?= 600
fuzz: $(STAMP) ## hostile deliveries through syncd serve for FUZZ_SECONDS (600), then the counts
	$(BIN)/python bench/fuzz_serve.py --seconds $(FUZZ_SECONDS)

lint: $(STAMP) ## static checks (ruff)
	$(BIN)/pip install --quiet ruff
	$(BIN)/ruff check syncd tests bench

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache build *.egg-info
