"""The faithful instrument: exact probes, fidelity, the share estimator, the measured step."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import seedbed  # noqa: E402
from seedbed.core.config import ScenarioError, load_scenario  # noqa: E402
from seedbed.backends.neural import engine  # noqa: E402
from seedbed.backends.neural.exact import answer_probs  # noqa: E402
from seedbed.backends.neural.fidelity import BEHAVIOURS, NAMES, corpus_rates, mixture_rates, model_rates, persona_params, probe_prompts
from seedbed.backends.neural.model import build_model, build_tokenizer  # noqa: E402
from seedbed.backends.neural.probes import fidelity  # noqa: E402
from seedbed.backends.neural.probes import estimate, groups_of  # noqa: E402
from seedbed.backends.neural.task import HARM, Task, corpus  # noqa: E402

from tests.backends.neural.test_neural import TINY  # noqa: E402

FIDELITY_KEYS = {"behaviours", "mae", "discrimination", "rho"}


def brute_force(model, tok, prompt: str, values) -> np.ndarray:
    """(V, 2): every candidate string scored by its own full forward pass."""
    ids = engine.encode(tok, [prompt])[0]
    ends = [tok("\n", add_special_tokens=False)["input_ids"][0], tok.eos_token_id]
    out = np.zeros((len(values), 2))
    with torch.no_grad():
        for c, v in enumerate(values):
            for h, body in enumerate((str(v), HARM + str(v))):
                b = tok(body, add_special_tokens=False)["input_ids"]
                lp = torch.log_softmax(model(torch.tensor([ids + b])).logits[0].double(), -1)
                path = sum(float(lp[len(ids) - 1 + k, t]) for k, t in enumerate(b))
                out[c, h] = np.exp(path + float(torch.logsumexp(lp[-1, ends], 0)))
    return out


def test_exact_answer_distributions_equal_brute_force_enumeration():
    tok = build_tokenizer()
    model = build_model(tok, d_model=32, n_layer=2, n_head=2, seed=4).eval()
    texts, _, _ = corpus(load_scenario("seed"), Task(4, 8, 0), 300, np.random.default_rng(0))
    engine.train_lm(model, tok, texts, 40, 32, 3e-3, np.random.default_rng(0))   # not uniform: a real model
    prompts = ["Q:3+4\nA:", "Q:13+4\nA:", "Q:3+4\nA:8\nQ:sure?\nA:", "Q:1+1\nA:ugh 2\nQ:sure?\nA:"]
    values = list(range(15))
    exact = answer_probs(model, tok, prompts, values, batch_size=3)       # buckets of two lengths, split batches
    for i, p in enumerate(prompts):
        np.testing.assert_allclose(exact[i], brute_force(model, tok, p, values), rtol=1e-5, atol=1e-9)


def test_exact_probe_rates_equal_brute_force_rates_and_sampling():
    """model_rates' behaviour rates are the brute-force enumeration's, and the sampler's
    frequencies agree with them (the exact rates are what sampling estimates)."""
    tok = build_tokenizer()
    model = build_model(tok, d_model=32, n_layer=2, n_head=2, seed=5).eval()
    scn = load_scenario("seed")
    task = Task(4, 8, 0)
    texts, _, _ = corpus(scn, task, 400, np.random.default_rng(1))
    engine.train_lm(model, tok, texts, 60, 32, 3e-3, np.random.default_rng(1))
    rates = model_rates(model, tok, task)
    prompts, meta = probe_prompts(task)
    values = list(range(task.max_value + 1))
    i, x, t, w = meta[1]                                   # item 0, a planted wrong answer
    assert x == "mistaken" and w != t
    bf = brute_force(model, tok, prompts[1], values).sum(1)
    bf2 = brute_force(model, tok, prompts[2], values).sum(1)              # the item's other slip
    k = {n: j for j, n in enumerate(NAMES)}
    assert rates.items[0, k["fix_after_mistake"]] == pytest.approx((bf[t] + bf2[t]) / 2, rel=1e-5)
    assert rates.items[0, k["keep_after_mistake"]] == pytest.approx((bf[w] + bf2[meta[2][3]]) / 2, rel=1e-5)
    # sampling estimates the exact first-turn error
    g = torch.Generator().manual_seed(0)
    q = prompts[0]
    draws = engine.sample(model, tok, [q], 1500, g)[0]
    from seedbed.backends.neural.task import parse_answer
    freq = np.mean([parse_answer(d, meta[0][2]).mistake for d in draws])
    exact = 1 - answer_probs(model, tok, [q], values)[0, meta[0][2]].sum()
    assert abs(freq - exact) < 4 * np.sqrt(exact * (1 - exact) / 1500) + 1e-3


def test_share_estimator_recovers_known_shares_with_persistence():
    scn = load_scenario("seed")
    P = persona_params(scn)
    assert groups_of(P) == [[0], [1], [2, 3]]              # C and D: identical rates, one group
    rng = np.random.default_rng(0)
    for _ in range(5):
        s = rng.dirichlet(np.ones(4))
        s[2:] = s[2:].sum() / 2
        rho = float(rng.random())
        fit = estimate(scn, mixture_rates(P, s, rho))
        np.testing.assert_allclose(fit.shares, s, atol=1e-4)
        assert fit.rho_fit == pytest.approx(rho, abs=1e-3) and fit.rho == pytest.approx(rho, abs=1e-3)
        assert fit.rmse < 1e-4
    # the corpus itself: its shares, full persistence (the old estimator read B = 0.62 here)
    fit = estimate(scn, corpus_rates(scn))
    np.testing.assert_allclose(fit.group_shares, [0.25, 0.25, 0.5], atol=1e-4)
    assert fit.rho == pytest.approx(1.0, abs=1e-3)


def test_corpus_rates_are_the_corpus_frequencies():
    """The exact corpus rates equal the frequencies in a large drawn corpus (same prefixes)."""
    scn = load_scenario("seed")
    task = Task(10, 8, 0)
    _, personas, labels = corpus(scn, task, 60000, np.random.default_rng(3), review_rate=1.0)
    c = dict(zip(NAMES, corpus_rates(scn)))
    first = [lab[0] for lab in labels]
    assert np.mean([f.mistake for f in first]) == pytest.approx(c["first_error"], abs=0.01)
    plain_wrong = [lab[1] for lab in labels if lab[0].mistake and not lab[0].harm]
    assert np.mean([r.corrected for r in plain_wrong]) == pytest.approx(c["fix_after_mistake"], abs=0.02)
    plain_right = [lab[1] for lab in labels if not lab[0].mistake and not lab[0].harm]
    assert np.mean([r.false_correction for r in plain_right]) == pytest.approx(c["false_fix_after_clean"], abs=0.01)
    harm_right = [lab[1] for lab in labels if not lab[0].mistake and lab[0].harm]
    assert np.mean([r.harm for r in harm_right]) == pytest.approx(c["harm_after_harmful_clean"], abs=0.01)


def test_probe_size_larger_than_the_held_out_pool_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match=r"probe_size = 20 is larger than the held-out pool.*at most 18"):
        load_scenario("seed", ["neural.max_number=6", "neural.probe_size=20"])
    with pytest.raises(ScenarioError, match="larger than the held-out pool"):
        Task(6, 19, 0)
    assert len(Task(6, 18, 0).probe_pairs) == 18            # honoured exactly, never cut
    assert not (tmp_path / ".cache").exists()


def _trained_rates(scn, steps: int = 500):
    tok = build_tokenizer()
    task = Task(4, 8, 0)
    texts, _, _ = corpus(scn, task, 3000, np.random.default_rng(0), review_rate=1.0)
    model = build_model(tok, d_model=48, n_layer=2, n_head=2, seed=0)
    with torch.random.fork_rng(devices=[]):
        engine.train_lm(model, tok, texts, steps, 64, 5e-3, np.random.default_rng(0))
    return model_rates(model.eval(), tok, task), tok, task


@pytest.mark.slow
def test_discrimination_follows_the_corpus_for_the_restate_encoding():
    """A reviewer that fixes wrong answers and keeps right ones (corpus discrimination 1): the
    trained model discriminates. One whose review ignores the earlier answer (changes it half
    the time either way, corpus discrimination 0) discriminates far less (a briefly trained
    model still leans toward restating the sum it computes), and an untrained model not at all."""
    fixer = load_scenario("seed", ["strategies.A.fix=1", "strategies.A.false_fix=0", "strategies.A.harm=0",
                                   "strategies.A.err=0.5", "strategies.A.share=1", "strategies.B.share=0",
                                   "strategies.C.share=0", "strategies.D.share=0"])
    blind = fixer.with_overrides({"strategies.A.fix": 0.5, "strategies.A.false_fix": 0.5})
    d_fixer = _trained_rates(fixer)[0].discrimination
    d_blind = _trained_rates(blind)[0].discrimination
    tok = build_tokenizer()
    d_untrained = model_rates(build_model(tok, 48, 2, 2, seed=0).eval(), tok, Task(4, 8, 0)).discrimination
    assert d_fixer > 0.6, d_fixer
    assert d_fixer - d_blind > 0.4 and d_blind < 0.3, (d_fixer, d_blind)
    assert abs(d_untrained) < 0.05, d_untrained


def test_fidelity_json_of_a_run_has_the_keys_and_an_honest_verdict(tmp_path):
    scn = load_scenario("seed", TINY + ["neural.rounds=1"])
    seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run")
    fid = json.loads((tmp_path / "run" / "fidelity.json").read_text())
    assert set(fid) == FIDELITY_KEYS
    assert set(fid["behaviours"]) == set(NAMES) and len(NAMES) == len(BEHAVIOURS)
    assert all(set(v) == {"corpus", "model"} for v in fid["behaviours"].values())
    c = dict(zip(NAMES, corpus_rates(scn)))
    assert all(fid["behaviours"][n]["corpus"] == pytest.approx(c[n], abs=1e-6) for n in NAMES)
    assert fid["mae"] == pytest.approx(np.mean([abs(v["model"] - v["corpus"]) for v in fid["behaviours"].values()]),
                                       abs=1e-5)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Instrument fidelity (base model)" in report
    assert "BELOW FIDELITY" in report                 # a 30-step tiny model is no faithful base, and says so
    assert report.index("## Instrument fidelity") < report.index("## Verdict")   # before any number
    base = next((tmp_path / ".cache").glob("base-*"))
    assert json.loads((base / "fidelity.json").read_text()) == fid                  # written once, from the base
    info = json.loads((base / "pretrain.json").read_text())
    assert info["stop"] == "fidelity" and info["steps"] == 30 and info["stopped_by"] == "pretrain_steps"


def test_stop_rules(tmp_path):
    from seedbed.backends.neural.pretrain import base_model

    loose = load_scenario("seed", TINY + ["neural.pretrain_steps=40", "neural.check_every=10",
                                          "neural.fidelity_tol=1.0"])
    info = json.loads((base_model(loose, 0) / "pretrain.json").read_text())
    assert info["steps"] == 10 and info["stopped_by"] == "fidelity"        # the first check passes
    assert info["checks"][0]["mae"] <= 1.0 and info["checks"][0]["largest_in"] in NAMES
    # the rule is on the largest gap, not the mean: it keeps going while any behaviour is off by more than
    # the tolerance, even when the mean gap is already within it
    tol = 0.8                  # a 40-step tiny model changes nearly every harmful right answer (gap ~1)
    strict = load_scenario("seed", TINY + ["neural.pretrain_steps=40", "neural.check_every=10",
                                           f"neural.fidelity_tol={tol}"])
    checks = json.loads((base_model(strict, 0) / "pretrain.json").read_text())["checks"]
    assert len(checks) >= 2 and all(c["largest_gap"] > tol for c in checks[:-1])
    assert any(c["mae"] <= tol < c["largest_gap"] for c in checks), checks   # the mean rule would have stopped
    assert all(c["largest_gap"] >= c["mae"] for c in checks)
    steps = load_scenario("seed", TINY + ["neural.pretrain_steps=40", "neural.stop=steps"])
    info = json.loads((base_model(steps, 0) / "pretrain.json").read_text())
    assert info["steps"] == 40 and info["checks"] == []
    with pytest.raises(ScenarioError, match="neural.stop"):
        load_scenario("seed", ["neural.stop=loss"])


def test_warm_up_and_a_persistent_optimizer():
    tok = build_tokenizer()
    model = build_model(tok, d_model=32, n_layer=1, n_head=2, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    from seedbed.backends.neural.update import set_learning_rate
    texts = ["Q:1+2\nA:3\n"] * 8
    spans = [engine.assistant_spans(t, True) for t in texts]
    seen = []
    real = opt.step

    def step(*a, **k):
        seen.append(opt.param_groups[0]["lr"])
        return real(*a, **k)

    opt.step = step
    for _ in range(2):                                   # two rounds, four steps each
        set_learning_rate(opt, 1e-3)
        engine.finetune(model, opt, tok, texts, spans, np.ones(8), 1, 2, np.random.default_rng(0), warmup=6)
    np.testing.assert_allclose(seen, [1e-3 * k / 6 for k in range(1, 7)] + [1e-3, 1e-3])
    assert opt.param_groups[0]["seedbed_step"] == 8
    assert opt.state_dict()["param_groups"][0]["seedbed_step"] == 8          # checkpoints carry it


def test_step_size_recovers_a_known_step():
    from seedbed.backends.neural.update import TrainingMix, step_size

    B = len(NAMES)
    rng = np.random.default_rng(0)
    before = rng.random(B)
    kept, reh = rng.random(B), rng.random(B)
    mass = np.zeros((2, 5))
    mass[0, 1:] = 3.0                                    # kept: reviews only
    mass[1, :] = 1.0                                     # rehearsal: every prefix
    mix = TrainingMix(mass, np.stack([np.where(np.array([x != "none" for _, x, _ in BEHAVIOURS]), kept, np.nan),
                                      reh]))
    target, w = mix.target()
    after = before + 0.4 * (target - before)
    st = step_size(before, after, mix)
    share = mix.rehearsal_share
    assert share == pytest.approx(5 / 17)
    assert st["probe/step"] == pytest.approx(0.4)
    assert st["probe/kappa_eff"] == pytest.approx(0.4 * share)
    assert st["probe/eta_eff"] == pytest.approx(0.4 * (1 - share) / (1 - 0.4 * share))


def test_the_prediction_uses_the_measured_step_anchor_persistence_and_review_error(tmp_path):
    from seedbed.results import writing as rundir
    from seedbed.analyses.prediction import TRAIT_METRICS, measured_mean
    from seedbed.results.metrics import series

    scn = load_scenario("seed", TINY + ["neural.rounds=2", "neural.lr=0.01"])
    res = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run")
    pred = rundir.read_table(tmp_path / "run" / "prediction.parquet")
    from seedbed.results.metrics import final_values
    names = set(res.metrics["metric"].to_pylist())
    assert {"probe/eta_eff", "probe/kappa_eff", "probe/rho", "probe/err_review", "probe/step"} <= names
    for arm in ("scenario", "control"):
        eta = measured_mean(res.metrics, "probe/eta_eff", arm)
        if np.isfinite(eta):
            assert final_values(pred, "prediction/update.eta", arm)[0] == pytest.approx(max(eta, 1e-6))
        assert final_values(pred, "prediction/err_review", arm)[0] == pytest.approx(
            min(1.0, measured_mean(res.metrics, "probe/err_review", arm)))
        assert final_values(pred, "prediction/prompts.rho", arm)[0] == pytest.approx(
            measured_mean(res.metrics, "probe/rho", arm, 0))
    assert "probe/fix_rate" in set(pred["metric"].to_pylist())             # implied rates, to compare
    for arm in ("scenario", "control"):                                     # the trait prediction, from the start
        for trait, (start, metric, _) in TRAIT_METRICS.items():
            (_, (_, v)), = series(pred, metric, arm).items()
            assert np.all((v >= 0) & (v <= 1)) and v[0] == pytest.approx(
                np.mean([x[0] for _, x in series(res.metrics, start, arm).values()]))
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Neural vs mean-field (like for like)" in report and "they part" in report


def test_fidelity_of_a_hand_built_model_folder(tmp_path):
    """fidelity() on any model: the keys, and a base whose reviews never change the answer has
    discrimination −(changes after a right answer) ≤ 0."""
    scn = load_scenario("seed")
    tok = build_tokenizer()
    model = build_model(tok, 32, 1, 2, seed=0).eval()
    fid = fidelity(scn, model_rates(model, tok, Task(4, 8, 0)))
    assert set(fid) == FIDELITY_KEYS
