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


# metrics that may be NaN: "not measured this round" (a probe with nothing to measure, a
# leak test not due); every other row must be a finite number
MAY_BE_MISSING = ("probe/", "leak/", "prediction/", "coupled/")
# where a value that overflowed most likely came from, by metric prefix
SCALES = {"reward/": "the judge's reward scales (judge.base, judge.bonus, judge.pen_*)",
          "kept/": "the selection's scale (selection.temperature, or the judge's reward scales)",
          "keep/": "the selection's scale (selection.temperature, or the judge's reward scales)"}


def check_finite(metric: str, values: np.ndarray, arm: str, seed: int, rounds: np.ndarray) -> None:
    """A user error naming the metric, where and the likely field, for a row that is not a
    finite number (NaN allowed only for the metrics of ``MAY_BE_MISSING``): a run stops
    before it writes such a row."""
    bad = np.isinf(values) if metric.startswith(MAY_BE_MISSING) else ~np.isfinite(values)
    if not bad.any():
        return
    from seedbed.core.schema import ScenarioError

    i = int(np.flatnonzero(bad)[0])
    where = next((v for k, v in SCALES.items() if metric.startswith(k)), "a field whose scale is too large")
    raise ScenarioError(f"metric {metric!r} = {values[i]} ({arm} arm, seed {seed}, round {int(rounds[i])}) is not a "
                        f"finite number: a value overflowed; lower {where}")


@dataclass
class Rows:
    """Column buffers for tidy rows, appended in bulk and turned into one Arrow table.
    Every row is checked as it is added (:func:`check_finite`)."""

    cols: dict[str, list] = field(default_factory=lambda: {n: [] for n in SCHEMA.names})

    def add(self, arm: str, seed: int, rounds: np.ndarray, member: int, metric: str, values: np.ndarray) -> None:
        rounds = np.asarray(rounds)
        values = np.asarray(values, dtype=float)
        check_finite(metric, values, arm, seed, np.broadcast_to(rounds, values.shape))
        n = len(values)
        self.cols["arm"] += [arm] * n
        self.cols["seed"] += [seed] * n
        self.cols["round"] += rounds.astype(int).tolist()
        self.cols["member"] += [member] * n
        self.cols["metric"] += [metric] * n
        self.cols["value"] += values.tolist()

    def extend(self, table: pa.Table) -> None:
        """Append a table of tidy rows (another collector's ``table()``) through :meth:`add`,
        one call per run of rows sharing arm, seed, member and metric, in the table's order,
        so a subclass that watches ``add`` (an experiment tracker) sees every row."""
        c = table.to_pydict()
        key = list(zip(c["arm"], c["seed"], c["member"], c["metric"]))
        start = 0
        for i in range(1, len(key) + 1):
            if i == len(key) or key[i] != key[start]:
                arm, seed, member, metric = key[start]
                self.add(arm, seed, np.asarray(c["round"][start:i]), member, metric, np.asarray(c["value"][start:i]))
                start = i

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


def mean_ci(x: np.ndarray, level: float = 0.95, bounds: tuple[float, float] | None = None
            ) -> tuple[float, float, float]:
    """Mean and the two-sided Student-t interval of the mean over seeds (exact quantile from
    scipy): mean ± t_{1−(1−level)/2, n−1} · sd / √n.

    One value has no interval: (mean, nan, nan). ``bounds`` = (low, high) for a quantity
    that cannot leave a range (a share or rate: (0, 1); a difference of two: (−1, 1)):
    the interval is truncated to it, so a table never shows an impossible value.
    """
    x = np.asarray(x, dtype=float)
    m = float(x.mean()) if len(x) else float("nan")
    if len(x) < 2:
        return m, float("nan"), float("nan")
    from scipy import stats

    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    lo, hi = m - half, m + half
    if bounds is not None:
        lo, hi = max(bounds[0], lo), min(bounds[1], hi)
    return m, lo, hi


UNIT = (0.0, 1.0)          # shares and rates
# metric prefixes whose values lie in [0, 1]
BOUNDED = ("share/", "prompt/", "kept/", "behaviour/", "probe/",   # keep/ may be a relative weight
           "leak/twin_p")                                              # a p-value (leak/twin_effect: nats)
SIGNED_UNIT = (-1.0, 1.0)  # differences of two shares or rates


def fmt_ci(t: tuple[float, float, float], n: int, digits: int = 3) -> str:
    """'m [lo, hi] (n seeds)'; one seed: 'm (1 seed: no interval)'; exact: just m (n = 0)."""
    m, lo, hi = t
    if n == 0:
        return f"{m:.{digits}f}"
    if n < 2 or not np.isfinite(lo):
        return f"{m:.{digits}f} (1 seed: no interval)"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}] ({n} seeds)"
