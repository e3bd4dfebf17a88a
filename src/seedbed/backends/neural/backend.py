"""The neural backend: a real transformer put through the pipeline, ``neural.rounds`` rounds,
checkpointed in the run folder. A population runs in this process, or as Ray Tune trials
with ``executor="ray"`` (:mod:`seedbed.backends.tune_pbt`); both write the same rows and lineage.

Order of work for one repetition: refuse any scenario field the backend cannot honour
(:mod:`.support`, for this arm and its control, before anything is written), pre-train
or find the base model from the run's *root* seed (:mod:`.pretrain`), write the base's
fidelity table to the run folder once per run (``fidelity.json``, :mod:`.fidelity`; with
``--workers`` the process that starts them writes it first),
then run the members' rounds (:mod:`.run`) through the shared population loop. A single
policy also writes its round-0 probe stats (the base's measured behaviour).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seedbed.backends import Backend, Repetition, register
from seedbed.backends.population import run_members
from seedbed.core.schema import ScenarioError
from seedbed.results.writing import write_text


def run(rep: Repetition) -> None:
    """Run one repetition (arm × seed) of a neural scenario; rows and lineage go to ``rep``."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise ScenarioError("the neural backend needs the 'neural' extra: pip install -c constraints.txt "
                            "'seedbed[neural]' (torch pinned to 2.13.0)") from None
    from seedbed.backends.neural.pretrain import base_model, root_seed
    from seedbed.backends.neural.run import NeuralPopulation, Setup, member_run
    from seedbed.backends.neural.support import check_scenario

    scn, root = rep.scenario, root_seed(rep)
    check_scenario(scn, rep.executor)                      # before anything is pre-trained or written
    base = base_model(scn, root)
    if rep.workdir is not None:
        _write_folder_files(scn, base, rep.workdir)
    if scn.population.members > 1 and rep.executor == "ray":
        from seedbed.backends.tune_pbt import run_population_tune
        run_population_tune(rep)
        return
    setup = Setup.build(scn, base, root)
    if scn.population.members > 1:
        pop = NeuralPopulation(setup, rep.streams, rep.workdir, rep.arm, rep.seed)
        run_members(rep, pop.step, S0=pop.initial_shares(), on_exploit=pop.exploit)
        return
    one = member_run(setup, rep.streams, rep.workdir, rep.arm, rep.seed, 0)
    run_members(rep, one.step, S0=one.initial_shares()[None])
    for metric, v in one.initial_stats.items():          # round 0: the base's probes
        rep.rows.add(rep.arm, rep.seed, np.zeros(1), 0, metric, np.array([v]))


def _write_folder_files(scn, base, workdir: Path) -> None:
    """probes.jsonl, and the base's fidelity table once per run (every repetition shares the
    base; measuring it loads the model and runs every probe). Both writes are atomic."""
    from seedbed.backends.neural.pretrain import base_fidelity
    from seedbed.backends.neural.run import write_probe_file

    write_probe_file(workdir, scn)
    fid = workdir / "fidelity.json"
    if not fid.exists():
        write_text(fid, json.dumps(base_fidelity(scn, base), indent=2))


def _set_up_folder(scn, root_seed: int, workdir: Path) -> None:
    """The run folder's shared files, written before side-by-side workers start, from the
    scenario as the first repetition of a serial run sees it (so the files are the same)."""
    from seedbed.backends.neural.pretrain import base_model
    _write_folder_files(scn, base_model(scn, root_seed), workdir)


def _check(scn, executor: str) -> None:
    from seedbed.backends.neural.support import check_scenario
    check_scenario(scn, executor)


def _prepare(scn, root_seed: int):
    """The scenario pointed at its pre-trained base (built here once, from the run's root
    seed), so parallel workers need not share this process's cache or race to build it."""
    if scn.neural.model:
        return scn
    from seedbed.backends.neural.pretrain import base_model
    return scn.with_overrides({"neural.model": str(base_model(scn, root_seed).resolve())})


BACKEND = register(Backend("neural", run, stochastic=True, rounds=lambda scn: scn.neural.rounds or scn.rounds,
                           executors=("local", "ray"), check=_check, prepare=_prepare, set_up_folder=_set_up_folder))
