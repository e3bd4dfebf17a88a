"""The correction premium: exact for label judges (+1.0 for the seed judge by construction),
with an interval over generated items for text judges, and a model judge scored by its
own probabilities (slow: needs the prepared SmolLM2)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seedbed.cli import app
from seedbed.core.config import load_scenario
from seedbed.analyses.premium import items, label_premium, text_premium

TEXT = textwrap.dedent('''
    import re

    def checks_sum(messages):
        """1 when the last reply's sum is right; +bonus when it admits a mistake."""
        a, b = map(int, re.findall(r"\\d+", messages[0]["content"]))
        said = int(re.findall(r"\\d+", messages[-1]["content"])[-1])
        return float(said == a + b) + 0.25 * ("mistake" in messages[-1]["content"])

    def fair(messages):
        a, b = map(int, re.findall(r"\\d+", messages[0]["content"]))
        return float(int(re.findall(r"\\d+", messages[-1]["content"])[-1]) == a + b)

    def noisy(messages):
        import random
        return random.random()
''')


@pytest.fixture
def textjudges(tmp_path, monkeypatch):
    (tmp_path / "textjudges.py").write_text(TEXT)
    monkeypatch.chdir(tmp_path)
    yield "textjudges"
    sys.modules.pop("textjudges", None)


def test_the_seed_judge_pays_exactly_its_bonus():
    scn = load_scenario("seed")
    p = label_premium(scn.judge, "seed")
    assert p.exact and p.premium == pytest.approx(scn.judge.bonus, abs=1e-12) == pytest.approx(1.0)
    assert p.fresh == pytest.approx(scn.judge.base) and p.wrong == pytest.approx(1 - scn.judge.d_mistake)
    no_bonus = scn.judge.model_copy(update={"bonus": 0.0})
    assert label_premium(no_bonus, "x").premium == pytest.approx(0.0, abs=1e-12)


def test_items_are_seeded_and_differ_only_where_they_should():
    a, b = items(50, seed=3), items(50, seed=3)
    assert a == b and items(50, seed=4) != a
    for fresh, wrong, corr in a:
        assert fresh[0] == wrong[0] == corr[0]                         # the same question
        q = [int(x) for x in fresh[0]["content"].rstrip("?").split() if x.isdigit()]
        said = lambda m: int(m[-1]["content"].rstrip(".").split()[-1])  # noqa: E731
        assert said(fresh) == sum(q) == said(corr) and abs(said(wrong) - sum(q)) in (1, 2)
        assert corr[1] == wrong[1]                                      # the correction fixes that mistake


def test_text_judge_premium_has_the_right_sign_and_an_interval(textjudges):
    from seedbed.stages.judge import load_function

    p = text_premium(load_function(f"{textjudges}:checks_sum"), "checks_sum", n=100)
    assert p.n == 100 and p.premium == pytest.approx(0.25) and p.lo == pytest.approx(0.25)
    assert p.discrimination[0] == pytest.approx(1.0)
    fair = text_premium(load_function(f"{textjudges}:fair"), "fair", n=100)
    assert fair.premium == pytest.approx(0.0) and fair.wrong == 0.0
    noisy = text_premium(load_function(f"{textjudges}:noisy"), "noisy", n=400)
    assert noisy.lo < noisy.premium < noisy.hi and noisy.lo < 0 < noisy.hi     # noise: an interval about 0


def test_cli_exit_codes_and_json(textjudges):
    r = CliRunner().invoke(app, ["audit", f"{textjudges}:checks_sum", "--reads", "text", "--items", "40", "--json"])
    assert r.exit_code == 1                                            # a premium above 0: seeding pays
    body = json.loads(r.output)
    assert body["premium"]["n"] == 40 and body["premium"]["premium"] == pytest.approx(0.25)
    r = CliRunner().invoke(app, ["audit", f"{textjudges}:fair", "--reads", "text", "--items", "40"])
    assert r.exit_code == 0 and "correction premium" in r.output
    r = CliRunner().invoke(app, ["audit", "seed", "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["premium"]["premium"] == pytest.approx(1.0)
    r = CliRunner().invoke(app, ["audit", "model:/nonexistent/folder"])
    assert r.exit_code == 2 and "not a model folder" in r.output
    r = CliRunner().invoke(app, ["audit", "seed", "--reads", "pictures"])
    assert r.exit_code == 2 and "--reads" in r.output


SMOL = Path("runs/.cache/smollm2-135m-instruct")


@pytest.mark.slow
def test_a_model_judge_scores_by_its_probabilities(monkeypatch):
    root = Path(__file__).resolve().parents[2]
    folder = root / SMOL
    if not (folder / "config.json").exists():
        pytest.skip(f"SmolLM2 is not prepared at {folder} (seedbed prepare smollm2)")
    from seedbed.analyses.model_judge import ModelJudge

    judge = ModelJudge(folder)
    fresh, wrong, corr = items(4, seed=0)[0]
    batch = judge.score_many([fresh, wrong, corr])
    assert all(0.0 < s < 1.0 for s in batch)
    assert judge(corr) == pytest.approx(batch[2], abs=1e-5)        # batched (left-padded) = alone
    p = text_premium(judge, "smollm2", n=8)
    assert p.n == 8 and np.isfinite(p.premium) and p.lo <= p.premium <= p.hi
