# `make demo` and `make test` each create or update .venv, then run. Idempotent:
# the install step reruns only when pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fewpair-installed

.PHONY: install demo test test-cluster test-numerics bench gpu-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) sweeps/run_grid.py

test: install
	$(PY) -m pytest -q -m "not cluster"

# The clusters as users launch them (pytest -m cluster): `ray up` / `ray exec` / `ray down` on
# the shipped cluster-onprem.yaml over two hosts made of Linux namespaces (tests/cluster_hosts.py),
# Ray's own autoscaler scaling workers from zero, and heads started by hand with `ray start`
# (token joins, what the autoscaler can add, a GPU node without CUDA). Needs root, sshd, rsync, python3.11-venv
# (.ci/run installs them); skips elsewhere, fails under CI=true. <= 15 min on 2 CPU cores.
test-cluster: install
	$(PY) -m pytest -q -m cluster

# The float comparisons that depend on the CPU's kernels (packs vs trials alone, reference
# steps, resume), once more on the generic and the AVX2 kernels: a bound that holds on this
# machine's own level only would fail on the next machine.
test-numerics: install
	for level in default avx2; do \
	    echo "== ATEN_CPU_CAPABILITY=$$level"; \
	    ATEN_CPU_CAPABILITY=$$level $(PY) -m pytest -q -m "numerics and not gpu" || exit 1; \
	done

bench: install   # (gpu_check.py is make gpu-check; solo_step.py a baseline module, no script)
	for b in bench/*.py; do \
	    case $$b in bench/gpu_check.py|bench/solo_step.py) continue;; esac; \
	    echo "== $$b"; $(PY) $$b || exit 1; \
	done

# The GPU path measured on one bare GPU machine (torch & co., no Ray, no Optuna, nothing
# installed): pytest -m gpu, pack_throughput at 256^2, a real trial alone and a pack of 8;
# <= 8 minutes on one H200; writes bench/results/<date>-gpu/ (bench/gpu_check.py).
gpu-check:
	PYTHONPATH=. $(PYTHON) bench/gpu_check.py

clean:
	rm -rf $(VENV) results .pytest_cache
