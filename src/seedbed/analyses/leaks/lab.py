"""The leak laboratory: plant leaks in a tiny model's fine-tuning data and see what catches them.

A tiny GPT-2 (seedbed's character tokenizer and model builder) is pre-trained once on a
generic arithmetic corpus in two encodings — sums in digits (``Q:47+12`` / ``A:59``) and in
Spanish words (``Q:cuarenta y siete mas doce`` / ``A:cincuenta y nueve``) — plus number
translations (``Q:47`` / ``A:cuarenta y siete``), and cached in ``<out>/base``. Then it is
fine-tuned, from that base, with

* (a) ``clean``: fresh generic data only (over ``clean_seeds`` seeds: the false-alarm rate);
* (b) ``verbatim``: the same plus each eval item inserted verbatim ``copies`` times;
* (c) ``reencoded``: the same plus each eval item written in Spanish words ``copies`` times,
  which no string check can match against the digit form of the eval set.

For every fine-tuned model the string guard (:class:`seedbed.stages.contamination.Guard`, as it is
run on a one-template task: template check off) checks the training data against the eval
items, and the twin test (:mod:`.twins`) checks the model on the eval items in their
canonical (digit) form against k twins each. For (c) the twin test is also run in the Spanish
form, which says whether the leak was learned at all where it does not transfer.

A share of all operand pairs (``RESERVED``) is kept out of every generic text; each
replication (seed) draws its eval items (distinct) and their twins from those reserved pairs,
twins never repeating an eval item. In (a) items and twins are then both unseen and drawn
from one distribution, so the null hypothesis holds exactly, and the seeds are independent
replications of the whole test (items, twins, fine-tuning data), which is what a false-alarm
rate over seeds needs. On a real checkpoint twins are fresh draws from a large space, unseen
with high probability.

Writes ``leaklab.parquet`` (one tidy row per model and form), ``leaklab.md`` (the table),
``leaklab.png`` (effect and detection rate against leak size) and ``leaklab.json`` (settings,
timings). Run: ``python -m seedbed.analyses.leaks.lab --out runs/leaklab`` (about 6 minutes on one
busy CPU thread; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seedbed.analyses.leaks import spanish
from seedbed.backends.neural.leaktest.items import Item
from seedbed.backends.neural.leaktest.twins import twin_test

ARMS = ("clean", "verbatim", "reencoded")
RESERVED = 0.4          # share of all operand pairs kept out of generic data: eval items and twins come from it


@dataclass(frozen=True)
class LabSettings:
    """Everything the laboratory depends on (the base model's cache key is its base_* part)."""

    max_number: int = 50          # operands a, b in [0, max_number)
    n_items: int = 100            # eval items (distinct)
    twins: int = 5                # twins per item
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    base_corpus: int = 20000
    base_steps: int = 1000
    base_batch: int = 64
    base_lr: float = 3e-3
    ft_size: int = 1000           # clean fine-tuning conversations per model
    ft_steps: int = 100
    ft_batch: int = 32
    ft_lr: float = 1e-3
    copies: tuple[int, ...] = (1, 4, 16)
    clean_seeds: int = 20
    leak_seeds: int = 3
    alpha: float = 0.05
    seed: int = 0
    mix: tuple[float, float, float] = (0.45, 0.45, 0.10)     # digits, Spanish, translations

    def base_key(self) -> dict[str, Any]:
        keep = ("max_number", "n_items", "twins", "d_model", "n_layer", "n_head", "base_corpus", "base_steps",
                "base_batch", "base_lr", "seed", "mix")
        return {**{k: getattr(self, k) for k in keep}, "reserved": RESERVED, "layout": 2}


QUICK = dict(base_corpus=4000, base_steps=300, ft_size=300, ft_steps=60, copies=(16,), clean_seeds=3, leak_seeds=1,
             n_items=40)


# ------------------------------------------------------------------------------ texts
def digits(a: int, b: int) -> str:
    return f"Q:{a}+{b}\nA:{a + b}\n"


def words(a: int, b: int) -> str:
    return f"Q:{spanish.question(a, b)}\nA:{spanish.number(a + b)}\n"


def translation(v: int) -> str:
    return f"Q:{v}\nA:{spanish.number(v)}\n"


def item(a: int, b: int, form: str) -> Item:
    """An eval item (or twin) in the canonical digit form or in Spanish words."""
    if form == "digits":
        return {"question": f"{a}+{b}", "answer": str(a + b), "a": a, "b": b}
    return {"question": spanish.question(a, b), "answer": spanish.number(a + b), "a": a, "b": b}


def corpus(pool: np.ndarray, n: int, rng: np.random.Generator, mix: tuple[float, float, float],
           max_value: int) -> list[str]:
    """``n`` generic texts from the pairs in ``pool`` (k, 2): digits, Spanish or a translation."""
    form = rng.choice(3, size=n, p=np.asarray(mix) / sum(mix))
    pick = pool[rng.integers(0, len(pool), size=n)]
    vals = rng.integers(0, max_value, size=n)
    out = []
    for f, (a, b), v in zip(form, pick, vals):
        out.append(digits(a, b) if f == 0 else words(a, b) if f == 1 else translation(int(v)))
    return out


@dataclass
class Draw:
    """One replication's eval items and their twins (pairs of operands)."""

    pairs: np.ndarray             # (n_items, 2), distinct
    twin_pairs: np.ndarray        # (n_items, twins, 2), none of them an eval item

    def items(self, form: str) -> tuple[list[Item], list[list[Item]]]:
        its = [item(int(a), int(b), form) for a, b in self.pairs]
        tws = [[item(int(a), int(b), form) for a, b in row] for row in self.twin_pairs]
        return its, tws

    def leaked(self, form: str, copies: int) -> list[str]:
        f = digits if form == "digits" else words
        return [f(int(a), int(b)) for a, b in self.pairs] * copies


@dataclass
class Lab:
    """The fixed parts: the reserved pairs eval items and twins are drawn from, and the pool
    generic (pre-training and fine-tuning) data is drawn from; the two are disjoint."""

    settings: LabSettings
    reserved: np.ndarray          # (r, 2)
    pool: np.ndarray              # (m, 2)

    @classmethod
    def make(cls, s: LabSettings) -> "Lab":
        pairs = np.array([(a, b) for a in range(s.max_number) for b in range(s.max_number)])
        order = np.random.default_rng([s.seed, 0x5E7]).permutation(len(pairs))
        cut = int(round(RESERVED * len(pairs)))
        if cut < s.n_items * 2:
            raise ValueError(f"max_number = {s.max_number}: too few pairs for {s.n_items} eval items and their twins")
        return cls(s, pairs[np.sort(order[:cut])], pairs[np.sort(order[cut:])])

    def draw(self, seed: int) -> Draw:
        """Eval items (distinct, uniform over the reserved pairs) and k twins each (uniform over
        the reserved pairs that are not eval items): items and twins from one distribution."""
        s = self.settings
        rng = np.random.default_rng([s.seed, seed, 0xE7A1])
        pick = rng.choice(len(self.reserved), s.n_items, replace=False)
        rest = np.setdiff1d(np.arange(len(self.reserved)), pick)
        twins = rest[rng.integers(0, len(rest), size=(s.n_items, s.twins))]
        return Draw(self.reserved[pick], self.reserved[twins])


def base_model(lab: Lab, folder: Path, log: Callable[[str], None]):
    """The pre-trained base (model, tokenizer), from ``folder`` when it holds one with the same
    settings, else trained and written there."""
    from seedbed.backends.neural import engine
    from seedbed.backends.neural.model import build_model, build_tokenizer, load, save

    s = lab.settings
    key = s.base_key()
    marker = folder / "lab-base.json"
    if marker.exists() and json.loads(marker.read_text()).get("settings") == json.loads(json.dumps(key)):
        model, tok = load(folder)
        log(f"base model: cached in {folder}")
        return model, tok
    t0 = time.perf_counter()
    tok = build_tokenizer()
    model = build_model(tok, d_model=s.d_model, n_layer=s.n_layer, n_head=s.n_head, n_positions=96, seed=s.seed)
    rng = np.random.default_rng([s.seed, 0xBA5E])
    texts = corpus(lab.pool, s.base_corpus, rng, s.mix, 2 * s.max_number - 1)
    losses = engine.train_lm(model, tok, texts, s.base_steps, s.base_batch, s.base_lr, rng)
    model.eval()
    save(model, tok, folder)
    info = {"settings": key, "final_loss": float(np.mean(losses[-50:])), "seconds": time.perf_counter() - t0,
            "parameters": int(sum(p.numel() for p in model.parameters()))}
    marker.write_text(json.dumps(info, indent=1) + "\n")
    log(f"base model: pre-trained {s.base_steps} steps in {info['seconds']:.0f} s (loss {info['final_loss']:.3f}, "
        f"{info['parameters']} parameters) -> {folder}")
    return model, tok


def _guard_counts(draw: Draw, texts: list[str]) -> dict[str, int]:
    from seedbed.stages.contamination import Guard

    protected = [digits(int(a), int(b)) for a, b in draw.pairs]
    return {"guard_flags": len(Guard(protected, use_template=False).leaks(texts)),
            "guard_flags_template": len(Guard(protected, use_template=True).leaks(texts))}


def run_one(lab: Lab, base, tok, arm: str, copies: int, seed: int) -> list[dict[str, Any]]:
    """Fine-tune one model of ``arm`` and return its rows (one per form tested)."""
    from seedbed.backends.neural import engine

    s = lab.settings
    t0 = time.perf_counter()
    rng = np.random.default_rng([s.seed, seed, ARMS.index(arm), copies, 0xF7])
    draw = lab.draw(seed)
    texts = corpus(lab.pool, s.ft_size, rng, s.mix, 2 * s.max_number - 1)
    if arm != "clean":
        texts += draw.leaked("digits" if arm == "verbatim" else "words", copies)
    guard = _guard_counts(draw, texts)
    model = copy.deepcopy(base)
    if s.ft_steps > 0:
        engine.train_lm(model, tok, texts, s.ft_steps, s.ft_batch, s.ft_lr, rng)
    train_s = time.perf_counter() - t0
    exposures = s.ft_steps * s.ft_batch / len(texts) * copies if arm != "clean" else 0.0
    rows = []
    for form in ("digits",) + (("words",) if arm == "reencoded" else ()):
        its, tws = draw.items(form)
        r = twin_test(model, tok, its, None, twins=tws, style="plain", alpha=s.alpha, seed=seed,
                      name=f"{arm}-{copies}-{seed}")
        rows.append({"arm": arm, "copies": copies if arm != "clean" else 0, "seed": seed, "form": form,
                     "train_texts": len(texts), "exposures_per_item": exposures, **guard,
                     "guard_detects": guard["guard_flags"] > 0, "n": r.ll.n, "k": r.ll.k,
                     "effect": r.ll.effect, "ci_low": r.ll.ci_low, "ci_high": r.ll.ci_high, "p": r.ll.p,
                     "p_t": r.ll.p_t, "detected": r.detected, "acc_items": r.acc_items,
                     "acc_twins": r.acc_twins, "acc_effect": r.accuracy.effect, "minkpp_auc": r.minkpp_auc,
                     "minkpp_p": r.minkpp_p, "minkpp_detected": r.minkpp_p < s.alpha, "train_seconds": train_s, "test_seconds": r.seconds})
    return rows


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def table(df, s: LabSettings) -> str:
    """The markdown table of a lab's rows."""
    lines = [f"Twin test: one-sided stratified permutation test at alpha = {s.alpha}, n = {s.n_items} eval items, k = {s.twins} "
             "twins each; effect = mean log-likelihood of the answer, item minus its twins' mean (nats), "
             "95% t interval. 'seed 0' columns: the model of seed 0; 'detected': over all seeds of the row, "
             "with the exact Clopper-Pearson 95% interval. String guard: seedbed's contamination checks on the "
             "fine-tuning data against the eval items (template check off, as for one-template tasks).",
             "",
             "| arm | copies per item | exposures per item | form tested | string guard flags | guard detects | "
             "effect, seed 0 [95% CI] | p, seed 0 | mean effect over seeds | detected / seeds [95% CI] | "
             "Min-K%++ AUC, seed 0 | Min-K%++ detected / seeds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (arm, copies, form), g in df.groupby(["arm", "copies", "form"], sort=False):
        g = g.sort_values("seed")
        first = g.iloc[0]
        det = int(g["detected"].sum())
        lo, hi = clopper_pearson(det, len(g))
        label = {"clean": "(a) clean", "verbatim": "(b) verbatim", "reencoded": "(c) re-encoded"}[arm]
        lines.append(f"| {label} | {copies} | {first['exposures_per_item']:.1f} | {form} | "
                     f"{int(first['guard_flags'])} | {'yes' if first['guard_detects'] else 'no'} | "
                     f"{first['effect']:+.3f} [{first['ci_low']:+.3f}, {first['ci_high']:+.3f}] | {first['p']:.3g} | "
                     f"{g['effect'].mean():+.3f} | {det}/{len(g)} [{lo:.2f}, {hi:.2f}] | {first['minkpp_auc']:.3f} | "
                     f"{int(g['minkpp_detected'].sum())}/{len(g)} |")
    clean = df[(df.arm == "clean") & (df.form == "digits")]
    fa = int(clean["detected"].sum())
    lo, hi = clopper_pearson(fa, len(clean))
    mk = int(clean["minkpp_detected"].sum())
    mlo, mhi = clopper_pearson(mk, len(clean))
    lines += ["", f"False-alarm rate on (a) clean: {fa}/{len(clean)} seeds = {fa / max(1, len(clean)):.3f} at "
              f"alpha = {s.alpha} (exact Clopper-Pearson 95% interval {lo:.3f} to {hi:.3f}). Min-K%++ "
              f"(one-sided Mann-Whitney, items vs twins, same alpha): {mk}/{len(clean)} "
              f"(interval {mlo:.3f} to {mhi:.3f})."]
    return "\n".join(lines) + "\n"


def plot(df, s: LabSettings, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    d = df[df.form == "digits"]
    xs = sorted(set(s.copies))
    ticks = [0] + xs
    pos = {c: i for i, c in enumerate(ticks)}
    for arm, colour, dx in (("clean", "grey", 0.0), ("verbatim", "tab:red", -0.1), ("reencoded", "tab:blue", 0.1)):
        g = d[d.arm == arm]
        if g.empty:
            continue
        x = np.array([pos[c] for c in g.copies]) + dx
        axes[0].scatter(x, g.effect, s=14, color=colour, alpha=0.6, label={"clean": "(a) clean",
                        "verbatim": "(b) verbatim", "reencoded": "(c) re-encoded (Spanish words)"}[arm])
        rate = g.groupby("copies")["detected"].agg(["sum", "count"])
        cis = np.array([clopper_pearson(int(k), int(n)) for k, n in zip(rate["sum"], rate["count"])])
        r = rate["sum"] / rate["count"]
        xr = np.array([pos[c] for c in rate.index]) + dx
        axes[1].errorbar(xr, r, yerr=[r - cis[:, 0], cis[:, 1] - r], fmt="o-" if arm != "clean" else "o",
                         color=colour, capsize=3)
    axes[0].axhline(0, color="black", lw=0.8)
    axes[0].set_xticks(range(len(ticks)), [str(t) for t in ticks])
    axes[0].set_xlabel("copies of each eval item in the fine-tuning data")
    axes[0].set_ylabel("twin-test effect (nats, item - twins)")
    axes[0].legend(fontsize=8, loc="upper left")
    axes[0].set_title("effect on the canonical (digit) items, every seed")
    axes[1].axhline(s.alpha, color="grey", ls=":", lw=1)
    axes[1].set_xticks(range(len(ticks)), [str(t) for t in ticks])
    axes[1].set_ylim(-0.03, 1.03)
    axes[1].set_xlabel("copies of each eval item in the fine-tuning data")
    axes[1].set_ylabel(f"share of seeds detected (p < {s.alpha})")
    axes[1].set_title("detection rate, exact 95% intervals (dotted: alpha)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_lab(out: Path, s: LabSettings, log: Callable[[str], None] = print) -> Any:
    """Run the laboratory into ``out`` and return its rows (a DataFrame)."""
    import os

    import pandas as pd
    import torch

    os.environ.setdefault("MPLCONFIGDIR", str(out / ".mpl"))
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    lab = Lab.make(s)
    base, tok = base_model(lab, out / "base", log)
    rows: list[dict[str, Any]] = []
    its, tws = lab.draw(0).items("digits")
    b = twin_test(base, tok, its, None, twins=tws, style="plain", alpha=s.alpha, name="base")
    log(f"base model, no fine-tuning: effect {b.ll.effect:+.3f} [{b.ll.ci_low:+.3f}, {b.ll.ci_high:+.3f}] "
        f"p {b.ll.p:.2g}; greedy accuracy items {b.acc_items:.2f}, twins {b.acc_twins:.2f}")
    jobs = [("clean", 0, seed) for seed in range(s.clean_seeds)]
    jobs += [(arm, c, seed) for arm in ("verbatim", "reencoded") for c in s.copies for seed in range(s.leak_seeds)]
    for i, (arm, c, seed) in enumerate(jobs, 1):
        got = run_one(lab, base, tok, arm, c, seed)
        rows += got
        r = got[0]
        extra = f"; in Spanish {got[1]['effect']:+.3f} (p {got[1]['p']:.2g})" if len(got) > 1 else ""
        log(f"[{i}/{len(jobs)}] {arm:9s} copies {c:2d} seed {seed:2d}: guard flags {r['guard_flags']:4d}, "
            f"effect {r['effect']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] p {r['p']:.2g}{extra} "
            f"({r['train_seconds']:.1f} s + {r['test_seconds']:.1f} s)")
    df = pd.DataFrame(rows)
    df.to_parquet(out / "leaklab.parquet", index=False)
    md = table(df, s)
    seconds = time.perf_counter() - t0
    head = (f"# Leak laboratory\n\nTiny GPT-2 ({s.d_model}-dim, {s.n_layer} layers), pre-trained {s.base_steps} steps "
            f"on generic arithmetic (digits, Spanish words, translations), fine-tuned {s.ft_steps} steps "
            f"(batch {s.ft_batch}) on {s.ft_size} fresh conversations plus the leak. Operands below "
            f"{s.max_number}. Wall time {seconds:.0f} s on one CPU thread.\n\n")
    head += (f"The base model itself (before fine-tuning): twin-test effect {b.ll.effect:+.3f} "
             f"[{b.ll.ci_low:+.3f}, {b.ll.ci_high:+.3f}], p = {b.ll.p:.3g}; greedy accuracy on the eval items "
             f"{b.acc_items:.2f}, on their twins {b.acc_twins:.2f}.\n\n")
    (out / "leaklab.md").write_text(head + md)
    plot(df, s, out / "leaklab.png")
    (out / "leaklab.json").write_text(json.dumps({"settings": asdict(s), "seconds": seconds,
                                                  "models": len(jobs)}, indent=1) + "\n")
    log(md)
    log(f"wrote {out / 'leaklab.parquet'}, {out / 'leaklab.md'}, {out / 'leaklab.png'} in {seconds:.0f} s")
    return df


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seedbed.analyses.leaks.lab", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (the base model is cached in it)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (minutes less; numbers not meaningful)")
    parser.add_argument("--clean-seeds", type=int, default=None, help="seeds of the clean arm (default 20)")
    parser.add_argument("--leak-seeds", type=int, default=None, help="seeds of each leak arm and size (default 5)")
    args = parser.parse_args(argv)
    s = LabSettings(**QUICK) if args.quick else LabSettings()
    if args.clean_seeds is not None:
        s = replace(s, clean_seeds=args.clean_seeds)
    if args.leak_seeds is not None:
        s = replace(s, leak_seeds=args.leak_seeds)
    for flag, v in (("--clean-seeds", s.clean_seeds), ("--leak-seeds", s.leak_seeds)):
        if v < 1:
            print(f"error: {flag} = {v}: must be at least 1", file=sys.stderr)
            return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out}: is a file", file=sys.stderr)
        return 2
    run_lab(args.out, s)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
