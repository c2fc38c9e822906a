# `make demo` and `make test` each create or update .venv, then run. Idempotent:
# the install step reruns only when pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fewpair-installed

.PHONY: install demo test test-numerics bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) sweeps/run_grid.py

test: install
	$(PY) -m pytest -q

# The float comparisons that depend on the CPU's kernels (packs vs trials alone, reference
# steps, resume), once more on the generic and the AVX2 kernels: a bound that holds on this
# machine's own level only would fail on the next machine.
test-numerics: install
	for level in default avx2; do \
	    echo "== ATEN_CPU_CAPABILITY=$$level"; \
	    ATEN_CPU_CAPABILITY=$$level $(PY) -m pytest -q -m "numerics and not gpu" || exit 1; \
	done

bench: install
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) results .pytest_cache
