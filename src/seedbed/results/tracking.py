"""Optional per-round experiment tracking: TensorBoard event files and Weights & Biases (offline).

A tracker only reads results: the tidy rows (arm, seed, round, member, metric, value) that
the backends append while a run goes on, the same rows ``metrics.parquet`` holds at the
end. :class:`TrackedRows` hands every appended block of rows to the trackers as it
arrives, so a long (neural) run can be watched round by round; nothing a tracker does
feeds back into the run, and the run's own files are the same with or without tracking.

Everything goes inside the run folder, nothing into the home directory:

* ``tensorboard``: ``<out>/tensorboard/<arm>/seed-<seed>[/member-<m>]/events.out.tfevents.*``,
  one TensorBoard run per arm × seed (× member in a population), one scalar tag per metric
  (``share/B``, ``reward/mean``, ...), step = round. Values are stored as float32, as
  TensorBoard stores every scalar. View with ``tensorboard --logdir <out>/tensorboard``.
* ``wandb``: Weights & Biases in offline mode (no network, no account), one W&B run per
  arm × seed, grouped by the run folder's name, with ``round`` as the x axis and the
  resolved scenario as the run config; ``wandb``'s files, cache and settings go under
  ``<out>/wandb``. Upload later, if wanted, with ``wandb sync <out>/wandb/wandb/offline-run-*``.

Both are extras (``pip install -c constraints.txt -e '.[tensorboard]'`` or ``'.[wandb]'``);
a missing one is reported in one line before anything runs.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from seedbed.results.metrics import Rows
from seedbed.core.schema import ScenarioError

TRACKERS = ("tensorboard", "wandb")
EXTRA = {"tensorboard": "tensorboard", "wandb": "wandb"}


class Tracker(Protocol):
    """Receives tidy rows as the run appends them; never changes the run."""

    def log(self, arm: str, seed: int, member: int, metric: str, rounds: np.ndarray, values: np.ndarray) -> None:
        """One metric of one arm × seed × member at the given rounds."""

    def close(self) -> None:
        """Flush and release everything (called once, also when the run fails)."""


def parse_track(track: str | Sequence[str] | None) -> list[str]:
    """Tracker names from ``--track`` values: 'tensorboard', 'tensorboard,wandb' or a list of
    such; duplicates dropped, order kept. A user error names an unknown one."""
    if track is None:
        return []
    items = [track] if isinstance(track, str) else list(track)
    names: list[str] = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in TRACKERS:
                raise ScenarioError(f"--track {name!r}: unknown tracker; choose from {', '.join(TRACKERS)}")
            if name not in names:
                names.append(name)
    return names


def check_track(names: Sequence[str], out: Path | None) -> None:
    """Refuse, before anything runs or is written, tracking without a run folder or without
    its package (one line naming the extra to install)."""
    if not names:
        return
    if out is None:
        raise ScenarioError(f"--track {','.join(names)}: needs a run folder (out=...), which the tracking "
                            "files go into")
    for name in names:
        _import(name)


def _import(name: str) -> Any:
    hint = f"pip install -c constraints.txt -e '.[{EXTRA[name]}]'"
    if name == "tensorboard":
        try:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: F401
            from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: F401
        except ImportError:
            raise ScenarioError(f"--track tensorboard: the 'tensorboard' package is not installed; {hint}") from None
        return None
    try:
        import wandb
    except ImportError:
        raise ScenarioError(f"--track wandb: the 'wandb' package is not installed; {hint}") from None
    if not (callable(getattr(wandb, "init", None)) and hasattr(wandb, "Settings")):
        raise ScenarioError(f"--track wandb: the installed 'wandb' package ({getattr(wandb, '__file__', '?')}) is "
                            f"not Weights & Biases (no wandb.init / wandb.Settings); {hint}")
    return wandb


def open_trackers(names: Sequence[str], out: Path, scenario: Any, members: int) -> "MultiTracker":
    """The trackers called ``names``, writing under ``out``. ``scenario``: its resolved
    settings (a dict), recorded where the tracker keeps a run's config."""
    trackers: list[Tracker] = []
    try:
        for name in names:
            if name == "tensorboard":
                trackers.append(TensorBoardTracker(Path(out) / "tensorboard", members))
            else:
                trackers.append(WandbTracker(Path(out) / "wandb", Path(out).resolve().name, scenario, members))
    except BaseException:
        MultiTracker(trackers).close()
        raise
    return MultiTracker(trackers)


@dataclass
class MultiTracker:
    """Several trackers as one."""

    trackers: list[Tracker] = field(default_factory=list)

    def log(self, arm: str, seed: int, member: int, metric: str, rounds: np.ndarray, values: np.ndarray) -> None:
        for t in self.trackers:
            t.log(arm, seed, member, metric, rounds, values)

    def close(self) -> None:
        for t in self.trackers:
            t.close()
        self.trackers = []


@dataclass
class TrackedRows(Rows):
    """Tidy rows that are also handed to a tracker as they are appended."""

    sink: Tracker | None = None

    def add(self, arm: str, seed: int, rounds: np.ndarray, member: int, metric: str, values: np.ndarray) -> None:
        super().add(arm, seed, rounds, member, metric, values)
        if self.sink is not None:
            self.sink.log(arm, int(seed), int(member), metric, np.atleast_1d(np.asarray(rounds)),
                          np.atleast_1d(np.asarray(values, dtype=float)))


def _series_dir(arm: str, seed: int, member: int, members: int) -> Path:
    d = Path(arm) / f"seed-{seed}"
    return d / f"member-{member}" if members > 1 else d


class TensorBoardTracker:
    """Scalars to TensorBoard event files: one run folder per arm × seed (× member), tag =
    metric, step = round. Uses tensorboard's own event writer (no torch needed)."""

    FLUSH_S = 5          # how often pending scalars reach the file while a run goes on

    def __init__(self, folder: Path, members: int):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.compat.proto import event_pb2, summary_pb2

        self.folder, self.members = Path(folder), members
        self._writer_cls, self._event, self._summary = EventFileWriter, event_pb2.Event, summary_pb2.Summary
        self.writers: dict[tuple[str, int, int], Any] = {}

    def _writer(self, arm: str, seed: int, member: int) -> Any:
        key = (arm, seed, member)
        if key not in self.writers:
            path = self.folder / _series_dir(arm, seed, member, self.members)
            self.writers[key] = self._writer_cls(str(path), flush_secs=self.FLUSH_S)
        return self.writers[key]

    def log(self, arm: str, seed: int, member: int, metric: str, rounds: np.ndarray, values: np.ndarray) -> None:
        w = self._writer(arm, seed, member)
        now = time.time()
        for r, v in zip(rounds.tolist(), values.tolist()):
            value = self._summary.Value(tag=metric, simple_value=v)
            w.add_event(self._event(wall_time=now, step=int(r), summary=self._summary(value=[value])))

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers = {}


class WandbTracker:
    """Weights & Biases in offline mode: one W&B run per arm × seed (group: the run folder's
    name), a history row per round with ``round`` as its x axis; population members as
    ``member-<m>/<metric>``. Rows of a round are collected until a later round arrives, then
    logged together. wandb's run files, cache, config and data folders all lie in ``folder``
    (set through its environment variables, restored on close)."""

    ENV = ("WANDB_MODE", "WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR",
           "WANDB_SILENT", "WANDB_DISABLE_CODE", "WANDB_DISABLE_GIT")

    def __init__(self, folder: Path, group: str, config: Any, members: int):
        self.wandb = _import("wandb")
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.group, self.config, self.members = group, config, members
        self._saved = {k: os.environ.get(k) for k in self.ENV}
        os.environ.update({
            "WANDB_MODE": "offline", "WANDB_DIR": str(self.folder), "WANDB_CACHE_DIR": str(self.folder / "cache"),
            "WANDB_CONFIG_DIR": str(self.folder / "config"), "WANDB_DATA_DIR": str(self.folder / "data"),
            "WANDB_ARTIFACT_DIR": str(self.folder / "artifacts"), "WANDB_SILENT": "true",
            "WANDB_DISABLE_CODE": "true", "WANDB_DISABLE_GIT": "true"})
        self.runs: dict[tuple[str, int], Any] = {}
        self.pending: dict[tuple[str, int], dict[int, dict[str, float]]] = {}

    def _run(self, arm: str, seed: int) -> Any:
        key = (arm, seed)
        if key not in self.runs:
            wb = self.wandb
            settings = wb.Settings(mode="offline", silent=True, console="off", save_code=False, disable_git=True,
                                   x_disable_stats=True, x_disable_meta=True, x_disable_machine_info=True)
            run = wb.init(project="seedbed", dir=str(self.folder), group=self.group, job_type=arm,
                          name=f"{self.group}-{arm}-seed-{seed}", config=self.config, settings=settings,
                          reinit="create_new")
            run.define_metric("round")
            run.define_metric("*", step_metric="round")
            self.runs[key] = run
            self.pending[key] = {}
        return self.runs[key]

    def log(self, arm: str, seed: int, member: int, metric: str, rounds: np.ndarray, values: np.ndarray) -> None:
        self._run(arm, seed)
        pending = self.pending[(arm, seed)]
        name = f"member-{member}/{metric}" if self.members > 1 else metric
        for r, v in zip(rounds.tolist(), values.tolist()):
            pending.setdefault(int(r), {})[name] = v
        self._flush(arm, seed, below=int(max(rounds.tolist(), default=0)))

    def _flush(self, arm: str, seed: int, below: int | None = None) -> None:
        """Log the collected rounds (those before ``below``, or all), in round order."""
        pending, run = self.pending[(arm, seed)], self.runs[(arm, seed)]
        for r in sorted(x for x in pending if below is None or x < below):
            run.log({"round": r, **pending.pop(r)})

    def close(self) -> None:
        try:
            for arm, seed in list(self.runs):
                self._flush(arm, seed)
                self.runs[(arm, seed)].finish()
            self.runs = {}
            if hasattr(self.wandb, "teardown"):
                self.wandb.teardown()          # its service process, started under this run's folder
        finally:
            for k, v in self._saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

