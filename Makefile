# Two commands on a fresh machine with python3, pip and make:
#   make demo   - create .venv, install, run the main job on the embedded demo data
#   make test   - create/update .venv and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test serve bench bench-10k bench-service dev clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	scripts/ensure-system-packages.sh || echo "warning: without these libraries only the PDF report fails (WeasyPrint)" >&2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/eudr demo

test: $(STAMP)
	scripts/ensure-postgres.sh
	scripts/ensure-redis.sh
	scripts/ensure-system-packages.sh
	scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q

serve: $(STAMP)
	$(BIN)/eudr serve-all

bench: $(STAMP)
	$(BIN)/python bench/bench_analyze.py --plots 1124

bench-10k: $(STAMP)
	$(BIN)/python bench/bench_analyze.py --plots 10000

dev: $(STAMP)
	$(BIN)/eudr db upgrade
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf $(VENV) .eudr-data .pytest_cache
