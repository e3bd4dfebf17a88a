"""Twin test, Min-K%++ and the leak laboratory (seedbed.analyses.leaks)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from seedbed.backends.neural.leaktest.items import addition_items, addition_twin, make_twins
from seedbed.backends.neural.leaktest.membership import auc, minkpp
from seedbed.backends.neural.leaktest.twins import paired_test
from seedbed.core.schema import ScenarioError


def _stats(items):
    a = np.array([it["a"] for it in items])
    b = np.array([it["b"] for it in items])
    return a, b, a + b


def _twin_pvalues(items, twins):
    ia, ib, isum = _stats(items)
    ta, tb, tsum = _stats([t for ts in twins for t in ts])
    bins = np.linspace(0, 2 * items[0]["max_number"] - 1, 8)
    table = np.array([np.histogram(isum, bins)[0], np.histogram(tsum, bins)[0]])
    return {"a": stats.ks_2samp(ia, ta).pvalue, "b": stats.ks_2samp(ib, tb).pvalue,
            "sum": stats.chi2_contingency(table).pvalue}


def test_twins_come_from_the_items_distribution():
    items = addition_items(300, seed=0, max_number=100)
    twins = make_twins(items, addition_twin, 5, np.random.default_rng(0))
    assert all(len(ts) == 5 for ts in twins)
    asked = {it["question"] for it in items}
    assert not any(t["question"] in asked for ts in twins for t in ts)      # no twin is an eval item
    for t in (t for ts in twins for t in ts):
        assert t["answer"] == str(t["a"] + t["b"]) and t["question"] == f"{t['a']}+{t['b']}"
    # same operand and answer distributions: two-sample KS on each operand, chi-square on the sum.
    # (Twins never repeat an eval item, so in a small space, e.g. 100 items of 400 pairs, they
    # come from the items' complement; the null stays valid on average over the draw of the eval
    # set, but a two-sample test conditional on it is not: hence the 10,000-pair space here.)
    for name, p in _twin_pvalues(items, twins).items():
        assert p > 0.01, (name, p)


def test_the_distribution_check_catches_a_biased_generator():
    items = addition_items(300, seed=0, max_number=100)

    def low(item, rng):                       # operand a only from the lower half: not a twin
        t = addition_twin(item, rng)
        a = int(rng.integers(0, 50))
        return {**t, "a": a, "question": f"{a}+{t['b']}", "answer": str(a + t["b"])}

    p = _twin_pvalues(items, make_twins(items, low, 5, np.random.default_rng(0)))
    assert p["a"] < 1e-6 and p["sum"] < 1e-3


def test_a_generator_that_cannot_make_fresh_twins_is_refused():
    items = addition_items(10, seed=0, max_number=20)
    with pytest.raises(ScenarioError, match="twin generator"):
        make_twins(items, lambda item, rng: dict(item), 2, np.random.default_rng(0))
    with pytest.raises(ScenarioError, match="string fields"):
        make_twins(items, lambda item, rng: {"question": 1}, 2, np.random.default_rng(0))


def _null(rng, R, n, k):
    z = lambda size: -np.log1p(np.exp(-rng.normal(1.5, 2.0, size)))      # log sigmoid: long negative tail
    return z((R, n)), z((R, n, k))


def test_permutation_test_holds_its_level_where_t_and_wilcoxon_do_not():
    """Under the null (items and twins exchangeable) with skewed log-likelihoods the
    permutation test rejects at its level; the signed-rank test would reject far too often."""
    rng = np.random.default_rng(5)
    R, n, k = 400, 100, 5
    x, y = _null(rng, R, n, k)
    p = np.array([paired_test(x[r], y[r], perm_draws=499, seed=r).p for r in range(R)])
    rej = int((p < 0.05).sum())
    lo, hi = stats.binomtest(rej, R).proportion_ci(method="exact")
    assert lo <= 0.05 and rej <= 32, (rej, lo, hi)            # within its level (95% CP interval covers 0.05)
    d = x - y.mean(2)
    wil = np.mean([stats.wilcoxon(r, alternative="greater").pvalue < 0.05 for r in d[:100]])
    assert wil > 0.3                                         # why the signed-rank test is not used


def test_paired_test_detects_a_shift_and_reports_its_interval():
    rng = np.random.default_rng(1)
    x, y = _null(rng, 1, 100, 5)
    t = paired_test(x[0] + 0.5, y[0])
    assert t.p < 0.001 and t.ci_low < t.effect < t.ci_high and t.ci_low > 0
    assert t.n == 100 and t.k == 5


def test_minkpp_is_the_mean_of_the_lowest_k_percent():
    lp = np.array([[-1.0, -2.0, -3.0, -4.0, -5.0, 0.0]])
    mu = np.zeros_like(lp)
    sig = np.ones_like(lp)
    mask = np.array([[1, 1, 1, 1, 1, 0]], bool)
    assert minkpp(lp, mu, sig, mask, k=0.2)[0] == pytest.approx(-5.0)       # ceil(0.2 * 5) = 1 lowest
    assert minkpp(lp, mu, sig, mask, k=0.4)[0] == pytest.approx(-4.5)
    assert minkpp(lp, mu + 1, sig * 2, mask, k=1.0)[0] == pytest.approx((-15 / 5 - 1) / 2)
    assert np.isnan(minkpp(lp, mu, sig, np.zeros_like(mask), k=0.2)[0])
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0


def _tiny_lab(**kw):
    from seedbed.analyses.leaks.lab import Lab, LabSettings

    s = LabSettings(**{**dict(max_number=30, n_items=30, twins=4, d_model=32, n_layer=1, base_corpus=1000,
                              base_steps=60, base_batch=32, ft_size=100, ft_steps=40, ft_batch=32, ft_lr=3e-3,
                              copies=(8,), clean_seeds=1, leak_seeds=1), **kw})
    return Lab.make(s)


def test_a_tiny_model_trained_on_exact_copies_is_flagged():
    """A tiny model trained from scratch on generic sums plus 10 verbatim copies of each of 30
    eval items: the string guard sees the copies, the twin test flags the model; the same
    items in Spanish words pass the guard."""
    pytest.importorskip("torch")
    import torch

    from seedbed.stages.contamination import Guard
    from seedbed.analyses.leaks.lab import corpus, digits
    from seedbed.backends.neural.leaktest.twins import twin_test
    from seedbed.backends.neural import engine
    from seedbed.backends.neural.model import build_model, build_tokenizer

    torch.set_num_threads(1)
    lab = _tiny_lab()
    draw = lab.draw(0)
    assert not ({tuple(p) for p in lab.reserved} & {tuple(p) for p in lab.pool})       # generic data is clean
    assert not ({tuple(p) for p in draw.pairs} & {tuple(p) for p in draw.twin_pairs.reshape(-1, 2)})
    tok = build_tokenizer()
    model = build_model(tok, d_model=32, n_layer=1, n_head=2, n_positions=64)
    rng = np.random.default_rng(0)
    texts = corpus(lab.pool, 150, rng, (1, 0, 0), 59) + draw.leaked("digits", 10)
    guard = Guard([digits(int(a), int(b)) for a, b in draw.pairs], use_template=False)
    assert len(guard.leaks(texts)) == 10 * 30
    assert not guard.leaks(draw.leaked("words", 1))
    engine.train_lm(model, tok, texts, 80, 32, 1e-2, rng)
    its, tws = draw.items("digits")
    r = twin_test(model, tok, its, None, twins=tws, style="plain")
    assert r.detected and r.ll.p < 0.01 and r.ll.ci_low > 0 and r.ll.n == 30 and r.ll.k == 4, r.lines()
    assert {row["twin"] for row in r.rows} == {-1, 0, 1, 2, 3} and len(r.rows) == 30 * 5


@pytest.mark.slow
def test_false_alarm_rate_on_clean_models_is_within_its_level(tmp_path):
    """20 clean fine-tunes from one base: at alpha = 0.05, 5 or more detections would have
    probability 0.016 if the test held its level."""
    import torch

    from seedbed.analyses.leaks.lab import base_model, run_one

    torch.set_num_threads(1)
    lab = _tiny_lab(base_steps=300, n_items=60, max_number=40)
    base, tok = base_model(lab, tmp_path / "base", lambda m: None)
    det = [run_one(lab, base, tok, "clean", 0, seed)[0]["detected"] for seed in range(20)]
    assert sum(det) <= 4, det
