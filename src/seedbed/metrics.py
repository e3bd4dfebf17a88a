"""Tidy results: one row per (arm, seed, round, member, metric).

Backends produce rows; plots and reports only read them. Metric names carry fixed
prefixes (CleanRL style): ``share/<strategy>``, ``keep/<strategy>``, ``prompt/...``,
``reward/...``, ``kept/...``, ``behaviour/...``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SCHEMA = pa.schema([
    ("arm", pa.string()),        # "scenario" or "control"
    ("seed", pa.int64()),
    ("round", pa.int64()),       # 0 = the state before any update
    ("member", pa.int64()),      # population member (0 for a single policy)
    ("metric", pa.string()),
    ("value", pa.float64()),
])


@dataclass
class Rows:
    """Column buffers for tidy rows, appended in bulk and turned into one Arrow table."""

    cols: dict[str, list] = field(default_factory=lambda: {n: [] for n in SCHEMA.names})

    def add(self, arm: str, seed: int, rounds: np.ndarray, member: int, metric: str, values: np.ndarray) -> None:
        rounds = np.asarray(rounds)
        values = np.asarray(values, dtype=float)
        n = len(values)
        self.cols["arm"] += [arm] * n
        self.cols["seed"] += [seed] * n
        self.cols["round"] += rounds.astype(int).tolist()
        self.cols["member"] += [member] * n
        self.cols["metric"] += [metric] * n
        self.cols["value"] += values.tolist()

    def table(self) -> pa.Table:
        return pa.table(self.cols, schema=SCHEMA)


def series(table: pa.Table, metric: str, arm: str = "scenario", member: int | None = None
           ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed → (rounds, values) for one metric, sorted by round.

    ``member=None`` averages over population members (a single policy is member 0).
    """
    mask = pc.and_(pc.equal(table["metric"], metric), pc.equal(table["arm"], arm))
    if member is not None:
        mask = pc.and_(mask, pc.equal(table["member"], member))
    sub = table.filter(mask)
    seeds = np.asarray(sub["seed"].to_numpy())
    rounds = np.asarray(sub["round"].to_numpy())
    values = np.asarray(sub["value"].to_numpy())
    out = {}
    for s in np.unique(seeds):
        m = seeds == s
        rs, inv = np.unique(rounds[m], return_inverse=True)
        mean = np.bincount(inv, weights=values[m]) / np.bincount(inv)
        out[int(s)] = (rs, mean)
    return out


def final_values(table: pa.Table, metric: str, arm: str = "scenario") -> np.ndarray:
    """The metric's value at the last round, one entry per seed."""
    return np.array([values[-1] for _, (_, values) in sorted(series(table, metric, arm).items())])


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and a two-sided t interval over seeds; a single (or exact) value has zero width."""
    x = np.asarray(x, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return m, m, m
    from statistics import NormalDist
    sd = float(x.std(ddof=1))
    # Student t quantile via a Cornish-Fisher expansion of the normal quantile (no scipy).
    z = NormalDist().inv_cdf(0.5 + level / 2)
    df = len(x) - 1
    t = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
    half = t * sd / np.sqrt(len(x))
    return m, m - half, m + half
