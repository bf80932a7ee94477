# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench soak clean system-deps audit migration

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# requirements.lock pins every dependency to the tested version (a constraint, not a list).
$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

## demo: a complete sync on embedded defaults (sample CSV, bundled emulator, temp SQLite)
demo: $(STAMP)
	$(BIN)/timetrack-sync demo

## system-deps: Debian packages the tests use (slapd, ldap-utils), installed when missing
system-deps:
	@./scripts/ensure-system-deps.sh

## lint: ruff check and format check
lint: $(STAMP)
	$(BIN)/ruff check sync tests benchmarks migrations scripts
	$(BIN)/ruff format --check sync tests benchmarks migrations scripts

typecheck: $(STAMP)
	$(BIN)/mypy

## test: everything CI runs
test: $(STAMP) system-deps lint typecheck
	$(BIN)/python -m pytest -q

## audit: known vulnerabilities in requirements.lock (pip-audit on PyPI's advisory data; needs
## network, so not part of make test). --strict: a pin that could not be checked fails too.
audit: $(STAMP)
	$(BIN)/pip install --quiet -c requirements.lock pip-audit
	@$(BIN)/pip-audit --strict --progress-spinner off --no-deps --disable-pip -r requirements.lock \
	  || { echo "make audit: FAILED: a pin above has a known vulnerability, or PyPI's" \
	       "vulnerability data could not be read for it (see the reasons above);" \
	       "the lock is not proven safe" >&2; exit 1; }

## migration: autogenerate the next state DB revision from sync/state/tables.py, e.g.
## make migration m="add links note" -> migrations/versions/0002_add_links_note.py (review it)
migration: $(STAMP)
	@test -n "$(m)" || { echo 'usage: make migration m="what the revision does"' >&2; exit 2; }
	$(BIN)/python scripts/new_migration.py "$(m)"

## bench: reproducible performance figures (not part of make test)
bench: $(STAMP)
	$(BIN)/python benchmarks/client_throughput.py
	$(BIN)/python benchmarks/plan_scale.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/bulk_load.py
	$(BIN)/python benchmarks/audit_export.py

## soak: long property and fault profiles
soak: $(STAMP)
	HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
