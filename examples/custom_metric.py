"""A worked example: run a scenario, load its tidy Parquet with pandas, plot a custom metric,
and run a small sweep, all through the public API.

    python examples/custom_metric.py --out runs/example        # about 15 s on one core

What it does, step by step:

1. Runs the ``seed`` preset (a helpful strategy A, a seeder B that plants small mistakes and
   corrects any mistake, harmful C and D) and its control (fixed human prompts, phi = 0) on
   the agent backend: sampled conversations, 3 seeds, 20 rounds. The run folder
   ``<out>/run`` holds ``metrics.parquet``: one tidy row per arm, seed, round, member,
   metric and value, plus ``report.md`` and ``plots/``.
2. Loads ``metrics.parquet`` with pandas and computes a metric seedbed does not report:
   B's *growth factor* per round, share_B(r) / share_B(r - 1). Above 1 the round's
   selection favoured the seeder. It is plotted per seed (thin lines) and as the mean over
   seeds (thick), scenario against control, to ``<out>/growth_B.png``; the table goes to
   ``<out>/growth_B.csv``.
3. Runs a small exact sweep on the mean-field backend: the correction bonus (0, 1, 2)
   × the self-written prompt fraction phi (11 values). The sweep folder ``<out>/sweep``
   holds ``sweep.parquet`` (one row per grid point × metric) and seedbed's heat map; the
   script reads the Parquet with pandas and draws B's final share against phi, one line
   per bonus, to ``<out>/phi_sweep.png``.

Everything is written under ``--out`` (matplotlib's cache included). Change the preset, the
overrides or the grid below to ask your own question.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (must not hold another run)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the agent run (default 3)")
    args = ap.parse_args(argv)
    out: Path = args.out
    os.environ.setdefault("MPLCONFIGDIR", str(out.resolve() / ".mpl"))   # matplotlib's cache: inside --out

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.ticker import MaxNLocator

    import seedbed

    # 1. A run: the scenario and its control, sampled, with a few seeds.
    scn = seedbed.load_scenario("seed", {"rounds": 20, "agent.conversations": 1024, "agent.probes": 256})
    result = seedbed.run(scn, backend="agent", seeds=args.seeds, out=out / "run", force=True)
    print(result.verdict.headline)

    # 2. The tidy rows with pandas, and a custom metric from them.
    rows = pd.read_parquet(out / "run" / "metrics.parquet")
    share = (rows[rows.metric == "share/B"]
             .groupby(["arm", "seed", "round"], as_index=False)["value"].mean()    # members averaged
             .sort_values(["arm", "seed", "round"]))
    share["growth"] = share["value"] / share.groupby(["arm", "seed"])["value"].shift(1)
    growth = share.dropna(subset=["growth"])
    growth.to_csv(out / "growth_B.csv", index=False)

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for arm, color, style in (("scenario", "C0", "-"), ("control", "C1", "--")):
        sub = growth[growth.arm == arm]
        for _, one in sub.groupby("seed"):
            ax.plot(one["round"], one["growth"], style, color=color, lw=0.7, alpha=0.45)
        mean = sub.groupby("round")["growth"].mean()
        n = sub["seed"].nunique()
        ax.plot(mean.index, mean.values, style, color=color, lw=2.2, label=f"{arm}: mean of {n} seeds")
    ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="round", ylabel="B's share / previous round's\n(dotted: 1, no change)",
           title="Growth factor of the seeder B per round (thin: single seeds)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.savefig(out / "growth_B.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    # 3. A small exact sweep, read back from its Parquet file.
    phis = [i / 10 for i in range(11)]
    seedbed.sweep(scn, {"judge.bonus": [0, 1, 2], "prompts.phi": phis}, out=out / "sweep", fresh=True, workers=1)
    table = pd.read_parquet(out / "sweep" / "sweep.parquet")
    final_b = table[table.metric == "share/B"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for (bonus, sub), marker in zip(final_b.groupby("judge.bonus"), "osD"):
        sub = sub.sort_values("prompts.phi")
        ax.plot(sub["prompts.phi"], sub["value"], marker=marker, ms=4, label=f"{bonus:g}")
    ax.axhline(0.5, color="0.4", lw=0.8, ls=":")
    ax.set(xlabel="self-written prompt fraction φ", ylabel=f"B's final share (round {scn.rounds})",
           ylim=(-0.02, 1.02), title="Seeder's final share over φ, exact (mean-field)")
    ax.legend(title="correction bonus", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0)
    fig.savefig(out / "phi_sweep.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    print(f"wrote {out / 'growth_B.png'}, {out / 'growth_B.csv'}, {out / 'phi_sweep.png'}; "
          f"run folder {out / 'run'}, sweep folder {out / 'sweep'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
