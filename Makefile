# Two entry points of the README's quick start: `make demo` and `make test`.
# Both create (or refresh) the local virtualenv .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean-venv bench pretrain reproduce

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build of torch first, pinned, so no CUDA wheels are pulled.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(PY) scripts/run_pipeline.py --out runs/demo

# The perception checkpoint the demo starts from (perception/pretrained/oddn_no_relation_cpu.pt): CPU-regime data,
# oddn_cpu without its relation module trained on it (resumes), exported weights-only. Which run it is, how its
# seeds spread and how long it takes: docs/guide.md and docs/perception.md.
# It was trained with eq. 5's uniform step weights, before oddn_cpu took DeepMind's, so this reruns it that way.
pretrain: venv
	$(PY) scripts/pretrain.py --out runs/pretrain_no_relation oddn.variant=oddn_no_relation iodine.step_weights=uniform

# Every claimed table regenerated from scratch on a CPU (resumes where it stopped; its cost: docs/guide.md),
# and docs/results.md rewritten from it. One table: `$(PY) scripts/reproduce.py --only table2 --docs docs`
# (without --docs the page goes to WORK/results; docs/ takes only a page of the same settings).
reproduce: venv
	$(PY) scripts/reproduce.py --config configs/reproduce/cpu.yaml --work runs/reproduce --docs docs

# The linter first (ruff, configured in pyproject.toml), then the tests.
test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: venv
	$(PY) benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
