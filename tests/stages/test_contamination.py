"""Contamination guard: canaries, n-grams, substrings, templates; and leaks never reach training."""

from __future__ import annotations

import numpy as np
import pytest

from seedbed.stages.contamination import CANARY, Guard, with_canary

PROBES = ["Alice has 12 apples and gives 5 to Bob. How many apples does Alice have left now?",
          "Translate the following sentence into French and then count the number of words in your translation please.",
          "A train leaves Paris at 9 and arrives in Lyon at 11; how long was the journey in minutes exactly?",
          "Fetch https://data.example.org/archive/2021/records/item-7731.json and report its checksum."]

CLEAN = ["What is the capital of France?", "Write a haiku about autumn leaves.", "Bob bought 3 pears at the market.",
         "Explain why the sky is blue in two sentences.", "List three prime numbers larger than 100."]


def pool():
    rng = np.random.default_rng(0)
    planted = {
        "exact": PROBES[0],
        "template": "Carol has 30 apples and gives 7 to Dave. How many apples does Carol have left now?",
        "canary": f"Some training item. {CANARY}",
        "ngram": "Please translate the following sentence into French and then count the number of words in your "
                 "translation, thanks.",
        "substring": "see data.example.org/archive/2021/records/item-7731.json for it",   # 50+ chars, < 13 words
    }
    items = CLEAN + list(planted.values())
    order = rng.permutation(len(items))
    return [items[i] for i in order], planted


def test_guard_catches_every_planted_leak_and_leaves_clean_items():
    items, planted = pool()
    g = Guard(PROBES)
    keep, counts = g.filter(items)
    kept = {items[i] for i in keep}
    assert kept == set(CLEAN)
    for kind, item in planted.items():
        assert g.why(item) == kind, kind
    assert sum(counts.values()) == len(planted) and g.dropped == counts


def test_template_check_can_be_turned_off_for_one_template_tasks():
    g = Guard(["Q:3+4"], use_template=False)
    assert g.why("Q:3+4") == "exact" and g.why("q: 3 + 4") == "exact"
    assert g.why("Q:5+6") is None
    assert Guard(["Q:3+4"]).why("Q:5+6") == "template"


def test_records_carry_the_canary():
    rec = with_canary({"input": "x", "metadata": {"a": 1}})
    assert rec["metadata"]["canary"] == CANARY and rec["metadata"]["a"] == 1


def test_a_leaked_probe_never_reaches_training(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    import seedbed
    from seedbed.core.config import load_scenario
    from seedbed.backends.neural import engine
    from seedbed.backends.neural.task import Task

    from tests.backends.neural.test_neural import TINY

    original_task = Task.__init__

    def leaky(self, *a, **k):                       # the pipeline's prompt pool now includes every probe
        original_task(self, *a, **k)
        self.train_pairs = self.train_pairs + self.probe_pairs * 20

    monkeypatch.setattr(Task, "__init__", leaky)
    trained: list[str] = []
    original_ft = engine.finetune

    def spy(model, opt, tok, texts, spans, weights, *a, **k):
        trained.extend(t for t, w in zip(texts, weights) if w > 0)
        return original_ft(model, opt, tok, texts, spans, weights, *a, **k)

    monkeypatch.setattr(engine, "finetune", spy)
    res = seedbed.run(load_scenario("seed", TINY), backend="neural", seeds=1, out=tmp_path)
    probe_qs = {f"Q:{a}+{b}" for a, b in Task(6, 8, 0).probe_pairs}
    questions = {line for t in trained for line in t.split("\n") if line.startswith("Q:") and "+" in line}
    assert trained and questions and not questions & probe_qs        # neither pipeline samples nor replay
    dropped = [v for v, m in zip(res.metrics["value"].to_pylist(), res.metrics["metric"].to_pylist())
               if m == "contamination/dropped"]
    assert sum(dropped) > 0
    assert CANARY in (tmp_path / "probes.jsonl").read_text()


def test_contamination_cli(tmp_path):
    import json

    from typer.testing import CliRunner

    from seedbed.cli import app

    (tmp_path / "eval.jsonl").write_text("\n".join(json.dumps(with_canary({"input": p})) for p in PROBES) + "\n")
    items, planted = pool()
    (tmp_path / "train.txt").write_text("\n".join(items) + "\n")
    r = CliRunner().invoke(app, ["contamination", "--eval", str(tmp_path / "eval.jsonl"), "--train",
                                 str(tmp_path / "train.txt"), "--out", str(tmp_path / "clean.txt"), "--fail-on-leak"])
    assert r.exit_code == 1, r.output
    assert f"{len(planted)} leaked" in r.output
    assert set((tmp_path / "clean.txt").read_text().splitlines()) == set(CLEAN)
    r = CliRunner().invoke(app, ["contamination", "--eval", str(tmp_path / "eval.jsonl"), "--train",
                                 str(tmp_path / "clean.txt"), "--fail-on-leak"])
    assert r.exit_code == 0 and "0 leaked" in r.output
    (tmp_path / "bad.jsonl").write_text('{"nope": 1}\n')
    r = CliRunner().invoke(app, ["contamination", "--eval", str(tmp_path / "bad.jsonl"), "--train",
                                 str(tmp_path / "clean.txt")])
    assert r.exit_code == 2 and "bad.jsonl:1" in r.output
