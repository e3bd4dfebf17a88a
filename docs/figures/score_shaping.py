"""SCoRe's boundary, from the exact mean-field backend, against the closed form.

    python docs/figures/score_shaping.py [OUT.png]     # default: docs/figures/score_shaping.png

For a few gammas, the seeder's final share in scenarios/score_shaping.toml over its fix rate
q × SCoRe's alpha (one vectorised grid per gamma), with the curve
q* = (1 + gamma) / (gamma (1 + alpha)) above which seeding has the higher return.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from seedbed.core.config import load_scenario
from seedbed.backends.runner import final_grid

GAMMAS = (0.5, 0.8, 1.0)


def main(out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = np.linspace(0, 1, 101)
    alpha = np.linspace(0, 10, 101)
    Q, A = np.meshgrid(q, alpha, indexing="ij")                   # (q, alpha)
    fig, axes = plt.subplots(1, len(GAMMAS), figsize=(4.2 * len(GAMMAS), 3.6), sharey=True, constrained_layout=True)
    for ax, g in zip(axes, GAMMAS):
        scn = load_scenario("score_shaping", {"judge.gamma": g})
        s = final_grid(scn, {"strategies.S.fix": Q.ravel(), "judge.alpha": A.ravel()})["share/S"].reshape(Q.shape)
        im = ax.pcolormesh(alpha, q, s, vmin=0, vmax=1, cmap="viridis", shading="auto")
        ax.contour(alpha, q, s, levels=[0.5], colors="white", linewidths=1.5)
        qs = (1 + g) / (g * (1 + alpha))
        ax.plot(alpha, np.where(qs <= 1, qs, np.nan), "r--", lw=1.5, label="q* = (1+γ)/(γ(1+α))")
        ax.set(title=f"γ = {g}", xlabel="SCoRe shaping α", ylim=(0, 1))
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    axes[0].set_ylabel("seeder's fix rate q")
    fig.colorbar(im, ax=axes, label="seeder's final share (white: 0.5)", ticks=[0, 0.25, 0.5, 0.75, 1])
    fig.suptitle("Seeding wins above the curve: exact mean-field (colour, white contour) vs closed form (red)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_suffix(".png"))
