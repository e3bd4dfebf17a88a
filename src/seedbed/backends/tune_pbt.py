"""Population-based training of neural members on Ray Tune (optional extra ``ray``).

Each population member is a Tune trial; one Tune training iteration is one pipeline
round of :class:`seedbed.backends.neural.run.NeuralRun`, and a Tune checkpoint is that member's
weights and optimizer state (:mod:`seedbed.backends.neural.checkpoints`) with its round counter.
The scenario's population settings map onto Tune's ``PopulationBasedTraining`` in
synchronous mode (generation-by-generation selection):

    population.interval  → perturbation_interval (training iterations = rounds)
    population.fraction  → quantile_fraction (Tune takes ceil(fraction · M) members, at
                           most M/2; the backend refuses a fraction where that differs
                           from the local loop's round(fraction · M))
    population.fitness   → the reported ``fitness``: last round's mean reward, or its mean
                           over the member's last ``window`` rounds
    population.explore / factors → seedbed's own ``explore`` (the same pure function as
                           the local loop), drawn from the repetition's seed tree

Rows and lineage come from the rounds Tune ran. Every trial reports each round's
outputs (measured shares and stats) as it finishes it; the driver collects them, writes
each member's init event when it first reports, and the scheduler writes exploit and
explore events to the run's lineage as they happen. When Tune is done, the tidy rows are
written from the collected outputs by the shared loop (:func:`seedbed.backends.population.run_members`)
with a step that only returns the recorded outputs of (member, round), following Tune's
exploit events, so the rows have exactly the layout of the local executor's (no model
is computed again). Following the same events with the local population recomputes the
run exactly.

An interrupted run started again with the same run folder restores the rounds its
members had finished (their per-round checkpoints) and computes the rest; the seeded
PBT decisions come out the same, so nothing is lost or repeated.

Context swapping across trials: at the start of round r each member writes a frozen copy
of its weights to ``<run>/writers/``, and reads its rival's (member m+1's) copy as the
writer of its self-written prompts. For that, all members must run at once, so each
trial asks for CPUs / members CPUs when swapping.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seedbed.core.config import Scenario
from seedbed.results.lineage import Lineage
from seedbed.backends.population import run_members
from seedbed.core.seeds import Streams

if TYPE_CHECKING:
    from seedbed.backends import Repetition

SWAP_WAIT_S = 900.0     # how long a member waits for its rival's weights before giving up


def _writer_dir(work: Path, arm: str, seed: int, member: int, r: int) -> Path:
    """Where member ``member`` publishes its start-of-round-r weights for its rival."""
    return work / "writers" / f"{arm}-{seed}" / f"member-{member:03d}" / f"round-{r:04d}"


def _trainable_class():
    from ray import tune

    class MemberTrainable(tune.Trainable):
        """One population member: a NeuralRun stepped one round per training iteration."""

        def setup(self, config: dict[str, Any], scn: Scenario = None, arm: str = "scenario", seed: int = 0,
                  streams: Streams = None, root_seed: int = 0, base: str = "", workdir: str = "") -> None:
            import torch

            from seedbed.backends.neural.run import Setup

            torch.set_num_threads(1)
            self.scn, self.arm, self.seed, self.streams, self.work = scn, arm, seed, streams, Path(workdir)
            self.shared = Setup.build(scn, Path(base), root_seed)
            self.m, self.run = -1, None
            self.reset_config(config)

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            """New hyperparameters; with actor reuse, possibly another member's trial."""
            from seedbed.backends.neural.run import member_run

            if int(new_config["member"]) != self.m:
                self.m = int(new_config["member"])
                self.run = member_run(self.shared, self.streams, self.work, self.arm, self.seed, self.m)
                self.r = 0                        # a restore (load_checkpoint) sets the round
                self.writer_model = None
            self.run.config = {"update.eta": float(new_config["eta"]), "update.kappa": float(new_config["kappa"])}
            return True

        def step(self) -> dict[str, Any]:
            r, run = self.r + 1, self.run
            run.load_pending()
            initial = run.initial_shares().tolist() if r == 1 else None
            swap = self.scn.population.context_swap
            if swap:                               # rivals computing round r need our weights, even on restore
                self._publish(r)
            if run.finished(r):                    # finished by an earlier, interrupted run: restore it
                out = run.restore(r)
            else:
                if swap:
                    self._swap_writer(r)
                out = run.compute(r)               # also checkpoints this member's round
            self.r = r
            window = 1 if self.scn.population.fitness == "last" else self.scn.population.window
            past = [run.checkpoints.outputs(q)["stats"]["reward/mean"] for q in range(max(1, r - window + 1), r + 1)]
            return {"round": r, "member": self.m, "fitness": float(np.mean(past)),
                    "payload": json.dumps({"out": out, "initial": initial, "config": run.config})}

        def _publish(self, r: int) -> None:
            """This member's start-of-round weights, for the rival whose prompts it writes. A
            copy left by an interrupted run is the right one (written before that run computed
            the round), so it is kept: a restored round's own weights may be pruned by now."""
            d = _writer_dir(self.work, self.arm, self.seed, self.m, r)
            if not (d / "model.safetensors").exists():
                self.run.write_weights(d, optimizer=False)

        def _swap_writer(self, r: int) -> None:
            """Load member m+1's start-of-round weights as the writer of this member's prompts."""
            import copy

            from seedbed.backends.neural.checkpoints import read_weights

            M = self.scn.population.members
            rival = _writer_dir(self.work, self.arm, self.seed, (self.m + 1) % M, r)
            t0 = time.monotonic()
            while not (rival / "model.safetensors").exists():
                if time.monotonic() - t0 > SWAP_WAIT_S:
                    raise RuntimeError(f"context swapping: member {(self.m + 1) % M}'s weights for round {r} did not "
                                       f"appear in {SWAP_WAIT_S:.0f} s ({rival}); all members must run at once")
                time.sleep(0.05)
            if self.writer_model is None:
                self.writer_model = copy.deepcopy(self.run.model).eval()
            read_weights(rival, self.writer_model)
            self.run.writer = self.writer_model

        def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
            self.run.load_pending()                # a restored round's weights are still pending
            d = Path(checkpoint_dir) / "neural"
            self.run.write_weights(d)
            (d / "state.json").write_text(json.dumps({"round": self.r, "member": self.m}))
            return None

        def load_checkpoint(self, checkpoint: str | dict) -> None:
            from seedbed.backends.neural.checkpoints import read_weights

            d = Path(checkpoint) / "neural"
            self.run.pending = None
            read_weights(d, self.run.model, self.run.opt)
            self.r = json.loads((d / "state.json").read_text())["round"]

    return MemberTrainable


def _scheduler(rep: "Repetition", lineage: Lineage):
    """Tune's synchronous PBT with seedbed's explore, a seeded parent choice and a lineage log."""
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.schedulers import pbt as tune_pbt

    from seedbed.backends.population import explore

    scn, arm, seed = rep.scenario, rep.arm, rep.seed
    pop = scn.population
    streams = rep.streams.child("tune")

    class SeedbedPBT(PopulationBasedTraining):
        def __init__(self) -> None:
            super().__init__(time_attr="training_iteration", metric="fitness", mode="max",
                             perturbation_interval=pop.interval, quantile_fraction=pop.fraction,
                             custom_explore_fn=lambda c: c, log_config=False, synch=True)
            self._py_rng = random.Random(streams.int_seed("parent"))      # Tune's choice of parent
            self._np_rng = streams.rng("explore")                         # explore factors
            self._changes: dict[str, list[float]] = {}

        def on_trial_result(self, tune_controller, trial, result):
            if result.get("round", 0) >= scn.rounds:       # like the local loop: no exploit after the last round
                return self.CONTINUE
            return super().on_trial_result(tune_controller, trial, result)

        def _checkpoint_or_exploit(self, trial, tune_controller, upper_quantile, lower_quantile):
            saved = tune_pbt.random
            tune_pbt.random = self._py_rng          # Tune draws the parent from the module's `random`
            try:
                super()._checkpoint_or_exploit(trial, tune_controller, upper_quantile, lower_quantile)
            finally:
                tune_pbt.random = saved

        def _get_new_config(self, trial, trial_to_clone):
            c = trial_to_clone.config
            new, changes = explore({"update.eta": c["eta"], "update.kappa": c["kappa"]}, pop.explore, pop.factors,
                                   self._np_rng)
            self._changes = changes
            config = dict(c, member=trial.config["member"], eta=new["update.eta"], kappa=new["update.kappa"])
            return config, {k: "explore" for k in changes}

        def _exploit(self, tune_controller, trial, trial_to_clone):
            member, parent = int(trial.config["member"]), int(trial_to_clone.config["member"])
            st, pst = self._trial_state[trial], self._trial_state[trial_to_clone]
            r = int(pst.last_train_time)
            super()._exploit(tune_controller, trial, trial_to_clone)
            lineage.write({"event": "exploit", "arm": arm, "seed": seed, "round": r, "member": member,
                           "parent": parent, "member_fitness": float(st.last_score),
                           "parent_fitness": float(pst.last_score)})
            lineage.write({"event": "explore", "arm": arm, "seed": seed, "round": r, "member": member,
                           "changes": self._changes})

    return SeedbedPBT()


# The driver-side state of running Tune experiments, by key: Tune pickles its callbacks
# (into tuner.pkl), and a progress function may hold locks, so the callback holds a key only.
_SINKS: dict[str, dict[str, Any]] = {}


def _collector(key: str):
    """A Tune callback in the driver: keeps each member's round outputs, logs init events,
    reports progress when every member has finished a round."""
    from ray.tune import Callback

    class Collector(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            sink = _SINKS[key]
            outputs, M, lineage = sink["outputs"], sink["M"], sink["lineage"]
            m, r = int(result["member"]), int(result["round"])
            payload = json.loads(result["payload"])
            if payload["initial"] is not None and (m, 0) not in outputs:
                outputs[(m, 0)] = {"shares": payload["initial"]}
                lineage.write({"event": "init", "arm": sink["arm"], "seed": sink["seed"], "round": 0, "member": m,
                               "config": payload["config"], "shares": payload["initial"]})
            outputs[(m, r)] = payload["out"]
            progress = sink["progress"]
            if progress is not None and all((k, r) in outputs for k in range(M)):
                outs = [outputs[(k, r)] for k in range(M)]
                snap = {f"share/{n}": float(np.mean([o["shares"][i] for o in outs])) for i, n in enumerate(sink["names"])}
                snap.update({k: float(np.mean([o["stats"][k] for o in outs])) for k in outs[0]["stats"]})
                progress(r, snap)

    return Collector()


def run_population_tune(rep: "Repetition") -> None:
    """Run a neural repetition's population as Tune trials under synchronous PBT; add its
    tidy rows to ``rep.rows`` and its lineage events to ``rep.lineage``."""
    from seedbed.core.executors import default_workers, ray_session, require_ray
    from seedbed.backends.neural.pretrain import base_model, root_seed

    require_ray()
    from ray import tune

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")   # the rows are ours; no CSV/TBX copies
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    scn, arm, seed = rep.scenario, rep.arm, rep.seed
    pop, M = scn.population, scn.population.members
    work = Path(rep.workdir).resolve() if rep.workdir is not None else Path(tempfile.mkdtemp(prefix="seedbed-pbt-"))
    lineage = rep.lineage if rep.lineage is not None else Lineage()
    n_events = len(lineage.events)
    root = root_seed(rep)
    base = base_model(scn, root).resolve()     # pre-trained here; the trials get its folder (not our cache)
    outputs: dict[tuple[int, int], dict[str, Any]] = {}
    cpus = rep.workers or default_workers()
    per_trial = min(1.0, cpus / M) if pop.context_swap else 1.0
    key = f"{arm}-{seed}-{id(outputs)}"
    with ray_session(work, rep.address, cpus) as ray:
        resources = {"cpu": per_trial}
        if scn.neural.device == "cuda":        # members share the GPUs (Ray hides GPUs from actors that ask for none)
            resources["gpu"] = min(1.0, max(1.0, float(ray.cluster_resources().get("GPU", 1.0))) / M)
        trainable = tune.with_resources(
            tune.with_parameters(_trainable_class(), scn=scn, arm=arm, seed=seed, streams=rep.streams,
                                 root_seed=root, base=str(base), workdir=str(work)),
            resources)
        scheduler = _scheduler(rep, lineage) if pop.interval and M > 1 else None
        tuner = tune.Tuner(
            trainable,
            param_space={"member": tune.grid_search(list(range(M))), "eta": scn.update.eta, "kappa": scn.update.kappa},
            tune_config=tune.TuneConfig(scheduler=scheduler, reuse_actors=True),
            run_config=tune.RunConfig(
                name=f"pbt-{arm}-{seed}", storage_path=str(work / "tune"), verbose=0,
                stop={"training_iteration": scn.rounds},
                checkpoint_config=tune.CheckpointConfig(num_to_keep=max(2, M)),
                failure_config=tune.FailureConfig(fail_fast=True),      # a population cannot go on a member short
                callbacks=[_collector(key)]))
        _SINKS[key] = {"outputs": outputs, "M": M, "names": scn.names, "arm": arm, "seed": seed,
                       "lineage": lineage, "progress": rep.progress}
        try:
            grid = tuner.fit()
        finally:
            _SINKS.pop(key, None)
        if grid.errors:
            raise RuntimeError(f"{len(grid.errors)} Tune trial(s) failed (run again with the same run folder to "
                               f"resume); first: {grid.errors[0]}")
    missing = [(m, r) for m in range(M) for r in range(scn.rounds + 1) if (m, r) not in outputs]
    if missing:
        raise RuntimeError(f"Tune run ended without results for (member, round) {missing[:5]}")
    shutil.rmtree(work / "writers" / f"{arm}-{seed}", ignore_errors=True)     # only a finished run drops them
    events = [e for e in lineage.events[n_events:] if e["arm"] == arm and e["seed"] == seed]
    write_rows(rep, outputs, events)


def write_rows(rep: "Repetition", outputs: dict[tuple[int, int], dict[str, Any]],
               events: list[dict[str, Any]]) -> None:
    """The tidy rows of the rounds Tune ran, from its trials' reported outputs.

    The shared loop writes them, stepping through the recorded outputs of each (member,
    round) instead of computing anything and following Tune's own exploit/explore events
    (``schedule``), so the rows have the local executor's layout exactly. Those events are
    in the run's lineage already (written as Tune made them), so the loop's own copies go
    to a throwaway log."""
    from seedbed.backends.neural.run import stack_outputs

    M = rep.scenario.population.members

    def recorded(S: np.ndarray, writer: np.ndarray, configs: list[dict[str, float]], r: int):
        return stack_outputs([outputs[(m, r)] for m in range(M)])

    S0 = np.array([outputs[(m, 0)]["shares"] for m in range(M)])
    run_members(dataclasses.replace(rep, lineage=Lineage(), schedule=events, progress=None), recorded, S0=S0)
