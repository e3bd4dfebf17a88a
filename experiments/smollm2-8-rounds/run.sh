#!/usr/bin/env bash
# The 8-round SmolLM2 experiment of docs/smollm2.md ("Eight rounds"), carried between machines.
#
#   experiments/smollm2-8-rounds/run.sh            adapt (once), pilot + plan (once), then the
#                                                 sequential run, resumed from the carried state
#   python experiments/smollm2-8-rounds/carry.py pack runs/smol8-seq experiments/smollm2-8-rounds/state
#                                                 carry what is finished (safe while it runs); then
#                                                 commit state/ before the machine goes: a hard kill
#                                                 runs no trap
# The run folder's spec names the adapted base by its absolute path under runs/.cache, so the
# state continues in a checkout at the same path with the default SEEDBED_CACHE.
#
# The plan (plan.json) is written once, from the pilot, before any seed of the test runs, and is
# committed with the state: a later machine continues the same design, never a new one.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=experiments/smollm2-8-rounds
export SEEDBED_CACHE=${SEEDBED_CACHE:-$PWD/runs/.cache} MPLCONFIGDIR=$PWD/.venv/.mpl
export XDG_DATA_HOME=$PWD/.venv/.xdg HF_HUB_OFFLINE=1
SB=.venv/bin/seedbed PY=.venv/bin/python

BASE=$(COLUMNS=4096 $SB prepare smollm2 --adapt --steps 400 --check-every 50 --set neural.probe_size=16 | tail -n 1)
$PY $HERE/carry.py base "$BASE" $HERE/base.sha256
S8=(--set "neural.model=\"$BASE\"" --set neural.probe_size=16 --set neural.prompts_per_round=64
    --set neural.batch_size=16 --set neural.lr=0.002 --set neural.device=cpu --set neural.rounds=8)

if [ ! -f $HERE/plan.json ]; then                  # the pilot (root seed 2) and the plan, once
    [ -f runs/smol8-pilot/manifest.json ] ||
        $SB run seed --backend neural --seeds 3 "${S8[@]}" --set seed=2 --out runs/smol8-pilot
    $SB plan seed --backend neural --pilot runs/smol8-pilot "${S8[@]}" --set seed=3 --use pilot --looks 3 \
        --out runs/smol8-plan
    cp runs/smol8-plan/plan.json $HERE/plan.json
    $PY $HERE/carry.py pack runs/smol8-pilot $HERE/pilot          # the evidence the plan was made from
fi

RUN=runs/smol8-seq                                 # the test (root seed 3: no seed of the pilot)
[ -d $RUN ] || [ ! -d $HERE/state ] || $PY $HERE/carry.py unpack $HERE/state $RUN
RESUME=(); [ -d $RUN ] && RESUME=(--resume)
trap '$PY $HERE/carry.py pack $RUN $HERE/state' EXIT    # also when the run stops or is interrupted
$SB run seed --backend neural --seeds auto --plan $HERE/plan.json "${S8[@]}" --set seed=3 --out $RUN ${RESUME[@]+"${RESUME[@]}"}
