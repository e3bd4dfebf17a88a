"""Terminal tables of a run's tidy rows (rich renderables for the CLI)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from seedbed.results.metrics import series

COLUMNS = (("prompt/mistake_rate", "mistakes in prompts", "{:.3f}"), ("reward/mean", "mean reward", "{:+.3f}"),
           ("kept/fraction", "kept", "{:.3f}"))


def round_table(title: str, names: list[str], rows: list[tuple[int, dict[str, float]]] | pa.Table,
                arm: str = "scenario", most: int = 12):
    """Per-round shares and round metrics, at most ``most`` rows evenly spread (always the
    last). ``rows``: (round, snapshot) pairs, or a tidy table to read the ``arm``'s means
    over seeds and members from."""
    from rich.table import Table

    if isinstance(rows, pa.Table):
        rows = snapshots(rows, names, arm)
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("round", justify="right")
    for n in names:
        t.add_column(f"share {n}", justify="right")
    for _, label, _ in COLUMNS:
        t.add_column(label, justify="right")
    for r, snap in thin(rows, most):
        t.add_row(str(r), *[f"{snap.get(f'share/{n}', np.nan):.3f}" for n in names],
                  *[fmt.format(snap.get(m, np.nan)) for m, _, fmt in COLUMNS])
    return t


def snapshots(table: pa.Table, names: list[str], arm: str) -> list[tuple[int, dict[str, float]]]:
    """(round, {metric: mean over seeds}) for rounds ≥ 1 of one arm."""
    by_round: dict[int, dict[str, float]] = {}
    for metric in [f"share/{n}" for n in names] + [m for m, _, _ in COLUMNS]:
        per_seed = series(table, metric, arm)
        if not per_seed:
            continue
        rounds = next(iter(per_seed.values()))[0]
        mean = np.mean([v for _, v in per_seed.values()], axis=0)
        for r, v in zip(rounds, mean):
            if r >= 1:
                by_round.setdefault(int(r), {})[metric] = float(v)
    return sorted(by_round.items())


def thin(rows: list, most: int = 12) -> list:
    """At most ``most`` rows, evenly spread, always with the last."""
    if len(rows) <= most:
        return rows
    step = -(-len(rows) // most)
    picked = rows[::step]
    return picked if picked[-1] is rows[-1] else picked + [rows[-1]]
