"""Coupling (how far training the last turn moves the untrained first turn) and the
prediction that uses it: a persona mixture measures c = 1, the coupled prediction is the
persona model's at c = 1, no predicted rate leaves [0, 1], and the isolated test runs on a
tiny base, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from seedbed.analyses.coupling import isolated_arm, reading, run_coupling
from seedbed.analyses.prediction import coupled, direct_share
from seedbed.backends.neural import coupling
from seedbed.backends.neural.fidelity import INDEX, mixture_rates, persona_params, reviewer_mix
from seedbed.core.config import load_scenario

from tests.backends.neural.test_neural import TINY


def _mixture_arm(scn, es):
    """An 'isolated test' whose model is the persona mixture itself, moved toward the fixers."""
    params, s = persona_params(scn), np.asarray(scn.shares, float)
    w = reviewer_mix(params, s, 1.0)[INDEX["fix_after_mistake"]] * params[1]
    w /= w.sum()
    idx = [INDEX[b] for b in coupling.TRACKED]
    R = np.array([[mixture_rates(params, (1 - e) * s + e * w, 1.0)[idx] for e in es] for _ in range(3)])
    return coupling.ArmResult("plain", False, False, tuple(range(len(es))), R)


def test_a_persona_mixture_has_coupling_one():
    scn = load_scenario("seed")
    out = coupling.summarise(scn, [_mixture_arm(scn, [0.0, 2e-4, 4e-4, 8e-4])], np.asarray(scn.shares), 1.0)
    c = out["arms"][0]["coupling"]
    assert c[0] == pytest.approx(1.0, abs=3e-3)       # the mixture is curved: exact as e → 0
    assert out["persona_slope"] > 0                      # in the seed preset the fixer (B) errs more


def test_persona_slope_matches_the_closed_form_of_a_two_persona_case():
    # two personas, full persistence, equal shares: the fixers' mix w on a mistaken prefix
    # is ∝ s_k e_k f_k; d(err)/d(fix) along w is a ratio of linear forms, checked numerically
    params = np.array([[0.1, 0.5], [0.2, 1.0], [0.1, 0.1], [0.0, 0.0]])
    s = np.array([0.5, 0.5])
    slope = coupling.persona_slope(params, s, 1.0)
    eps = 1e-6
    w = reviewer_mix(params, s, 1.0)[INDEX["fix_after_mistake"]] * params[1]
    w /= w.sum()
    r0, r1 = mixture_rates(params, s, 1.0), mixture_rates(params, (1 - eps) * s + eps * w, 1.0)
    assert slope == pytest.approx((r1[0] - r0[0]) / (r1[INDEX["fix_after_mistake"]] - r0[INDEX["fix_after_mistake"]]),
                                  rel=1e-4)
    assert np.isnan(coupling.persona_slope(params * np.array([[1], [0], [1], [1]]), s, 1.0))   # nobody fixes


def test_coupled_prediction_reduces_to_the_persona_model_at_full_coupling_and_stays_a_rate():
    err_p = np.array([0.27, 0.30, 0.36, 0.41])
    np.testing.assert_allclose(coupled(err_p, 0.27, 0.0, 1.0), err_p)
    np.testing.assert_allclose(coupled(err_p, 0.27, 0.4, 1.0), err_p)
    np.testing.assert_allclose(coupled(err_p, 0.27, 0.0, 0.0), np.full(4, 0.27))     # decoupled: the first turn stays
    rng = np.random.default_rng(0)
    for _ in range(200):                                  # any start, coupling and trajectory: a rate
        e = rng.uniform(0, 1, 6)
        out = coupled(e, rng.uniform(0, 1), rng.uniform(0, 1), rng.normal(0, 5))
        assert np.all((out >= 0) & (out <= 1))
    scn = load_scenario("seed")
    assert direct_share(scn) == 0.0 and direct_share(scn.control_scenario()) == 1.0


def test_the_reading_follows_the_interval_and_the_trained_direction():
    assert reading([-1.1, -1.5, -0.7], [0.2, 0.19, 0.21]).startswith("anti-coupled")
    assert reading([0.9, 0.6, 1.2], [0.2, 0.1, 0.3]).startswith("persona-like")
    assert reading([0.1, -1.0, 1.3], [0.1, 0.0, 0.2]).startswith("undecided")
    assert reading([-2.3, -2.5, -2.1], [-0.3, -0.4, -0.2]).startswith("the training did not raise fixing")
    assert reading(None) == "not measured"
    scn = load_scenario("inoculation")
    assert isolated_arm(scn) == ("rehearsal+inoculation" if scn.neural.replay > 0 else "inoculation")
    assert run_coupling(scn, {"isolated": None}) is None


def test_the_isolated_test_runs_on_a_tiny_base_and_repeats_exactly(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("SEEDBED_CACHE", str(tmp_path))
    scn = load_scenario("seed", TINY)
    from seedbed.backends.neural.pretrain import base_model
    base = base_model(scn, 0)
    arms = (("plain", False, False), ("rehearsal", True, False))
    a = coupling.isolated(scn, base, seeds=2, steps=(0, 2, 4), arms=arms)
    b = coupling.isolated(scn, base, seeds=2, steps=(0, 2, 4), arms=arms)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.rates, y.rates)
        assert np.all((x.rates >= 0) & (x.rates <= 1))
        assert np.all(x.rates[:, 0] == x.rates[0, 0])      # step 0 is the base for every seed
        assert np.any(x.rates[:, -1] != x.rates[:, 0])      # training moved it
    out = coupling.summarise(scn, a, np.asarray(scn.shares), 1.0)
    assert [r["arm"] for r in out["arms"]] == ["plain", "rehearsal"] and out["arms"][0]["seeds"] == 2


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_a_chat_model_takes_the_isolated_test_and_a_run_reads_it(tmp_path, monkeypatch):
    """The isolated test on a tiny Llama in a chat template (LoRA, exact probes on a folder
    marked adapted): it repeats exactly, step 0 is the base, training moves the rates. A run
    does not measure a chat model's test itself; it reads one kept for its base and its own
    fine-tuning settings, whatever the design, and not one made with other settings."""
    pytest.importorskip("peft")
    import json

    from seedbed.backends.neural.chat import ADAPTATION
    from seedbed.backends.neural.model import save
    from tests.backends.neural.test_smollm2 import chat_tokenizer, tiny_llama

    monkeypatch.setenv("SEEDBED_CACHE", str(tmp_path / "cache"))
    tok = chat_tokenizer()
    folder = save(tiny_llama(tok, 3), tok, tmp_path / "base")
    (folder / ADAPTATION).write_text(json.dumps({"valid_mass": 0.99}))
    sets = ["neural.device=cpu", "neural.probe_size=8", "neural.max_number=6", "neural.batch_size=8",
            "neural.lr=0.01", "neural.lora_r=4", "neural.lora_alpha=8", f'neural.model="{folder}"']
    scn = load_scenario("seed", sets)
    arms = (("plain", False, False), ("rehearsal+inoculation", True, True))
    assert coupling.cached_isolated(scn, 0) is None                     # nothing kept: a run does not measure it
    a = coupling.isolated(scn, folder, seeds=2, steps=(0, 2, 4), arms=arms)
    b = coupling.isolated(scn, folder, seeds=2, steps=(0, 2, 4), arms=arms)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.rates, y.rates)
        assert np.all((x.rates >= 0) & (x.rates <= 1))
        assert np.all(x.rates[:, 0] == x.rates[0, 0])
        assert np.any(x.rates[:, -1] != x.rates[:, 0])
    kept = coupling.cached_isolated(scn, 0, seeds=2, steps=(0, 2, 4), arms=arms, measure=True)
    assert [r["arm"] for r in kept["arms"]] == ["plain", "rehearsal+inoculation"]
    np.testing.assert_allclose(kept["arms"][0]["start"]["first_error"], a[0].rates[0, 0, 0], atol=1e-6)
    assert coupling.cached_isolated(scn, 0) == kept                    # a run on this base reads it
    other = load_scenario("seed", sets + ["neural.lr=0.02"])
    assert coupling.cached_isolated(other, 0) is None                  # ... but not with other fine-tuning settings
    from seedbed.analyses.coupling import NOT_MEASURED, coupling_report
    assert coupling_report(other, _empty_table(), 0)["reading"]["isolated"] == NOT_MEASURED


def _empty_table():
    import pyarrow as pa
    return pa.table({"round": pa.array([], pa.int64()), "metric": pa.array([], pa.string()),
                     "arm": pa.array([], pa.string()), "seed": pa.array([], pa.int64()),
                     "value": pa.array([], pa.float64())})


@pytest.mark.parametrize("flag, value, says", [("--steps", "4,8", "must start at 0"),
                                               ("--steps", "0,x", "not a comma-separated list"),
                                               ("--arms", "plain,nope", "choose from")])
def test_the_coupling_command_names_a_bad_flag(flag, value, says, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from seedbed.cli import app

    monkeypatch.setenv("SEEDBED_CACHE", str(tmp_path / "cache"))
    r = CliRunner().invoke(app, ["coupling", "seed", flag, value])
    assert r.exit_code == 2 and says in r.output and flag in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "cache").exists()
