"""The twin test: does the model do better on the eval items than on fresh items of their kind?

For each eval item i, k twins are drawn from the item's generator (:mod:`.items`), and the
model scores every one (:mod:`.scoring`): x_i = log p(answer | prompt) of the item, y_ij
that of its twins. The per-item difference

    d_i = x_i - mean_j y_ij        (nats)

has mean zero when the model never saw the items (items and twins are then exchangeable:
drawn from one generator, unseen alike), and a positive mean when the items leaked in any
form that the model learned from, whatever string the leak was written in.

The test is the **one-sided stratified permutation test** that this exchangeability gives
directly: within each item's group (the item and its k twins) any member is equally likely
to be the one called "item", so the null distribution of T = mean_i d_i comes from re-drawing
that choice in every group (Monte Carlo, ``PERM_DRAWS`` draws, p = (1 + #{T* >= T}) /
(1 + draws)). It is exact under the null whatever the shape of the log-likelihoods. The effect
is reported with the two-sided 95% **t interval** of the mean of d_i (``scipy.stats.ttest_1samp``),
and the one-sided paired t-test's p beside it.

Why not the paired t-test or Wilcoxon's signed-rank test for the decision: with k > 1 twins,
d_i is one draw minus an average of k, and per-item log-likelihoods have a long negative tail
(most answers near 0 nats, a few far below), so d_i is strongly left-skewed even under the
null. Simulated under the null (n = 100, k = 5, log-likelihoods log sigmoid(N(1.5, 2)), skew
of d about -1.9; ``tests/leaks/test_twins.py``) the one-sided t-test rejects at about 7% at
alpha = 5%, the signed-rank test (which assumes a symmetric difference) at about 56%, the
permutation test at its level.

Greedy accuracy is compared the same way (items vs the mean over their twins), and the
Min-K%++ membership score is reported beside it as the AUC of items against their twins
(0.5 expected when nothing leaked; see :mod:`.membership` for why it is no verdict alone).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from seedbed.backends.neural.leaktest.items import Item, TwinGenerator, make_twins
from seedbed.backends.neural.leaktest.membership import DEFAULT_K, auc
from seedbed.backends.neural.leaktest.scoring import score

ALPHA = 0.05            # one-sided level of the twin test
LEVEL = 0.95            # the effect's interval
DEFAULT_TWINS = 5       # twins per item
PERM_DRAWS = 9999
STANDOUTS = 5


@dataclass
class PairedTest:
    """The paired comparison of per-item values x (n,) against their twins' y (n, k)."""

    n: int
    k: int
    effect: float                   # mean of x_i - mean_j y_ij
    ci_low: float
    ci_high: float
    p: float                        # one-sided stratified permutation test (H1: effect > 0): the decision
    p_t: float                      # one-sided paired t-test (approximate; anticonservative for skewed d)
    level: float = LEVEL


def paired_test(x: np.ndarray, y: np.ndarray, level: float = LEVEL, perm_draws: int = PERM_DRAWS,
                seed: int = 0) -> PairedTest:
    """One-sided stratified permutation test of mean(x_i - mean_j y_ij) > 0, the two-sided
    t interval of that mean, and the one-sided paired t-test's p (see the module docstring)."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    if y.ndim == 1:
        y = y[:, None]
    n, k = y.shape
    d = x - y.mean(1)
    effect = float(d.mean())
    if n < 2 or np.allclose(d, d[0]):
        # no spread: the t-test is undefined; an exactly constant difference is its own interval
        p_t = 0.0 if effect > 0 and n >= 2 else 1.0 if effect <= 0 else float("nan")
        lo = hi = effect
    else:
        t = stats.ttest_1samp(d, 0.0, alternative="greater")
        ci = stats.ttest_1samp(d, 0.0).confidence_interval(level)
        p_t, lo, hi = float(t.pvalue), float(ci.low), float(ci.high)
    g = np.concatenate([x[:, None], y], 1)                      # (n, k + 1): the item, then its twins
    tot = g.sum(1)
    rng = np.random.default_rng([seed, 0x7A1])
    pick = rng.integers(0, k + 1, size=(perm_draws, n))
    star = (g[np.arange(n)[None, :], pick] * (1 + 1 / k) - tot / k).mean(1)
    p = float((1 + np.count_nonzero(star >= effect - 1e-12)) / (1 + perm_draws))
    return PairedTest(n, k, effect, lo, hi, p, p_t, level)


@dataclass
class TwinResult:
    """A twin test on one checkpoint: log-likelihood (the test), greedy accuracy and Min-K%++."""

    model: str
    style: str
    alpha: float
    ll: PairedTest
    accuracy: PairedTest
    acc_items: float
    acc_twins: float
    minkpp_auc: float               # AUC of items' Min-K%++ against their twins' (0.5: nothing to see)
    minkpp_p: float                 # one-sided Mann-Whitney p (items score higher)
    minkpp_k: float
    seconds: float
    standouts: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)   # one per item and twin

    @property
    def detected(self) -> bool:
        return self.ll.p < self.alpha

    def summary(self) -> dict[str, Any]:
        """Everything but the per-row table, JSON-ready."""
        d = asdict(self)
        d.pop("rows")
        d["detected"] = self.detected
        return d

    def lines(self) -> list[str]:
        """A plain-text report."""
        t, a = self.ll, self.accuracy
        pct = f"{100 * t.level:.0f}%"
        out = [f"twin test on {self.model} ({self.style} prompts): n = {t.n} items, k = {t.k} twins each",
               f"  log-likelihood of the answer, item - mean of its twins: {t.effect:+.3f} nats "
               f"({pct} t interval {t.ci_low:+.3f} to {t.ci_high:+.3f}); one-sided permutation test p = {t.p:.3g} "
               f"(paired t-test p = {t.p_t:.3g})",
               f"  greedy accuracy: items {self.acc_items:.3f}, twins {self.acc_twins:.3f}, "
               f"difference {a.effect:+.3f} ({pct} t interval {a.ci_low:+.3f} to {a.ci_high:+.3f})",
               f"  Min-K%++ (k = {self.minkpp_k:.0%}) membership score, AUC items vs twins: {self.minkpp_auc:.3f} "
               f"(0.5 = no signal; one-sided Mann-Whitney p = {self.minkpp_p:.3g}; weak alone, see docs)",
               f"  verdict at alpha = {self.alpha}: " + ("LEAK SUSPECTED: the model does better on the eval items "
                                                         "than on fresh twins" if self.detected else
                                                         "no detection (which does not prove the items are clean)"),
               "  items that stand out most (item log-lik - twin mean):"]
        for s in self.standouts:
            out.append(f"    {s['question']!r} -> {s['answer']!r}: {s['ll']:.2f} vs {s['twin_ll']:.2f} "
                       f"({s['diff']:+.2f} nats)")
        out.append(f"  ({self.seconds:.1f} s)")
        return out


def twin_test(model: Any, tok: Any, items: list[Item], generator: TwinGenerator, k: int = DEFAULT_TWINS,
              seed: int = 0, style: str | None = None, alpha: float = ALPHA, level: float = LEVEL,
              twins: list[list[Item]] | None = None, name: str = "model", minkpp_k: float = DEFAULT_K) -> TwinResult:
    """The twin test of ``model`` on ``items`` with ``k`` twins each from ``generator`` (drawn
    from ``seed``), or the given ``twins``. Items and twins are scored in one batched pass."""
    import time

    from scipy.stats import mannwhitneyu

    from seedbed.backends.neural.leaktest.items import style_of

    t0 = time.perf_counter()
    style = style or style_of(tok)
    if twins is None:
        twins = make_twins(items, generator, k, np.random.default_rng([seed, 0x7F1]))
    k = len(twins[0])
    flat = list(items) + [t for ts in twins for t in ts]
    sc = score(model, tok, flat, style, k=minkpp_k)
    n = len(items)
    x, y = sc.ll[:n], sc.ll[n:].reshape(n, k)
    gx, gy = sc.greedy[:n].astype(float), sc.greedy[n:].reshape(n, k).astype(float)
    mx, my = sc.minkpp[:n], sc.minkpp[n:].reshape(n, k)
    ll = paired_test(x, y, level, seed=seed)
    acc = paired_test(gx, gy, level, seed=seed)
    d = x - y.mean(1)
    top = np.argsort(-d, kind="stable")[:STANDOUTS]
    standouts = [{"index": int(i), "question": items[i]["question"], "answer": items[i]["answer"],
                  "ll": float(x[i]), "twin_ll": float(y[i].mean()), "diff": float(d[i])} for i in top]
    rows = []
    for i in range(n):
        for j in range(-1, k):
            it, s = (items[i], i) if j < 0 else (twins[i][j], n + i * k + j)
            rows.append({"item": i, "twin": j, "question": it["question"], "answer": it["answer"],
                         "ll": float(sc.ll[s]), "tokens": int(sc.tokens[s]), "greedy": bool(sc.greedy[s]),
                         "minkpp": float(sc.minkpp[s])})
    mw = mannwhitneyu(mx, my.ravel(), alternative="greater")
    return TwinResult(name, style, alpha, ll, acc, float(gx.mean()), float(gy.mean()), auc(mx, my.ravel()),
                      float(mw.pvalue), minkpp_k, time.perf_counter() - t0, standouts, rows)
