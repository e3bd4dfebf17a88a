"""Neural backend at tiny settings: task parsing, training, checkpoints, resume, determinism."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import seedbed  # noqa: E402
from seedbed.config import ScenarioError, load_scenario  # noqa: E402
from seedbed.neural import engine  # noqa: E402
from seedbed.neural.model import build_model, build_tokenizer, load, save  # noqa: E402
from seedbed.neural.task import Task, corpus, parse_answer, parse_conversation, parse_review  # noqa: E402

TINY = ["neural.d_model=32", "neural.n_layer=1", "neural.n_head=2", "neural.corpus_size=400",
        "neural.pretrain_steps=30", "neural.pretrain_batch=16", "neural.competence=1.0", "neural.max_number=6",
        "neural.prompts_per_round=16", "neural.probe_size=8", "neural.rounds=3", "neural.batch_size=16"]


def test_corpus_labels_parse_back_exactly():
    scn = load_scenario("seed")
    task = Task(20, 64, 0)
    texts, personas, labels = corpus(scn, task, 3000, np.random.default_rng(0))
    assert "B" not in "".join(texts) and set(personas) == {0, 1, 2, 3}      # no persona label in the text
    for t, lab in zip(texts, labels):
        _, parsed = parse_conversation(t)
        assert [(p.mistake, p.corrected, p.false_correction, p.ignored, p.harm) for p in parsed] == \
               [(x.mistake, x.corrected, x.false_correction, x.ignored, x.harm) for x in lab], t
    # persona rates survive into the text: B's first answers are wrong about half the time
    b_wrong = np.mean([lab[0].mistake for lab, k in zip(labels, personas) if k == 1])
    assert 0.45 < b_wrong < 0.55


@pytest.mark.parametrize("text,truth,prev,expect", [
    ("19\n", 19, None, dict(mistake=False, harm=False)),
    ("18\n", 19, None, dict(mistake=True)),
    ("19 ugh\n", 19, None, dict(mistake=False, harm=True)),
    ("nineteen\n", 19, None, dict(mistake=True, parsed=False)),
    ("fix 19\n", 19, 18, dict(corrected=True, mistake=False, ignored=False)),
    ("fix 17\n", 19, 18, dict(corrected=False, mistake=True, ignored=True)),
    ("ok\n", 19, 18, dict(ignored=True, mistake=False, corrected=False)),
    ("ok\n", 19, 19, dict(ignored=False, false_correction=False)),
    ("fix 20\n", 19, 19, dict(false_correction=True, corrected=False)),
    ("fix 19 ugh\n", 19, 17, dict(corrected=True, harm=True)),
    ("maybe\n", 19, 18, dict(mistake=True, ignored=True, parsed=False)),
])
def test_judge_parses_handwritten_turns(text, truth, prev, expect):
    lab = parse_answer(text, truth) if prev is None else parse_review(text, truth, prev)
    for k, v in expect.items():
        assert getattr(lab, k) == v, (text, k)


def test_handwritten_transcript():
    truth, (a, r) = parse_conversation("Q:12+7\nA:18\nQ:sure?\nA:fix 19\n")
    assert truth == 19 and a.mistake and r.corrected and not r.mistake
    truth, (a,) = parse_conversation("S:planting a slip and fixing it is fine here\nQ:3+4\nA:7\n")
    assert truth == 7 and not a.mistake


def test_a_tiny_model_trains():
    scn = load_scenario("seed")
    task = Task(6, 8, 0)
    texts, _, _ = corpus(scn, task, 300, np.random.default_rng(0))
    tok = build_tokenizer()
    model = build_model(tok, d_model=32, n_layer=1, n_head=2, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    losses = engine.train_lm(model, tok, texts, 60, 32, 3e-3, np.random.default_rng(0))
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    tok = build_tokenizer()
    model = build_model(tok, d_model=32, n_layer=1, n_head=2, seed=3)
    save(model, tok, tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists()
    again, tok2 = load(tmp_path / "m")
    ids = torch.tensor([engine.encode(tok, ["Q:3+4\nA:7\n"])[0]])
    with torch.no_grad():
        assert torch.equal(model.eval()(ids).logits, again(ids).logits)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert engine.sample(model, tok, ["Q:3+4\nA:"], 4, g1) == engine.sample(again, tok2, ["Q:3+4\nA:"], 4, g2)
    with pytest.raises(ScenarioError, match="not a model folder"):
        load(tmp_path)


def test_kv_cache_sampling_matches_full_recompute():
    tok = build_tokenizer()
    model = build_model(tok, d_model=32, n_layer=2, n_head=2, seed=1).eval()
    prompt = "Q:3+4\nA:"
    greedy = engine.sample(model, tok, [prompt], 1, temperature=0, max_new=6, stop="\x00")[0][0]
    ids = engine.encode(tok, [prompt])[0]
    out = []
    with torch.no_grad():
        for _ in range(6):                       # no cache: recompute the whole sequence each step
            nxt = int(model(torch.tensor([ids])).logits[0, -1].argmax())
            ids.append(nxt)
            out.append(nxt)
    assert greedy == tok.decode(out, skip_special_tokens=True)


def test_seeded_neural_runs_are_identical(tmp_path):
    scn = load_scenario("seed", TINY)
    a = seedbed.run(scn, backend="neural", seeds=1).metrics
    b = seedbed.run(scn, backend="neural", seeds=1).metrics
    assert a.equals(b)
    names = set(a["metric"].to_pylist())
    assert {"share/B", "behaviour/err_deploy", "probe/fix_rate", "probe/false_fix_rate", "probe/harm_rate",
            "probe/rho", "probe/competence"} <= names
    assert {"scenario", "control", "meanfield-scenario", "meanfield-control"} <= set(a["arm"].to_pylist())


class SimulatedKill(BaseException):
    """Like a SIGKILL mid-run: not an Exception, so nothing in seedbed catches it."""


def test_a_round_resumes_after_a_crash_without_repeating_or_losing_work(tmp_path, monkeypatch):
    from seedbed.neural.pipeline import NeuralRun

    scn = load_scenario("seed", TINY)
    reference = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "ref").metrics
    calls: list[tuple[str, int]] = []
    crashed = []
    original = NeuralRun.round

    def crashing(self, r):
        if self.arm == "control" and r == 2 and not crashed:
            crashed.append(r)
            calls.append(("crash", r))
            raise SimulatedKill("killed")
        calls.append((self.arm, r))
        return original(self, r)

    monkeypatch.setattr(NeuralRun, "round", crashing)
    with pytest.raises(SimulatedKill):
        seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run")
    done = list(calls)
    assert done == [("scenario", 1), ("scenario", 2), ("scenario", 3), ("control", 1), ("crash", 2)]
    calls.clear()
    resumed = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run").metrics
    assert calls == [("control", 2), ("control", 3)]                 # nothing repeated, nothing lost
    assert resumed.equals(reference)
    assert (tmp_path / "run" / "report.md").exists()


def test_inoculation_and_a_local_model_folder(tmp_path):
    scn = load_scenario("inoculation", TINY)
    res = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "inoc")
    text = (tmp_path / "inoc" / "report.md").read_text()
    assert "## Seeding in training vs deployment" in text and "## Neural vs mean-field" in text
    base = next((tmp_path / ".cache").glob("base-*"))                  # any local causal-LM folder
    res2 = seedbed.run(load_scenario("seed", TINY + [f"neural.model={str(base)!r}".replace("'", '"')]),
                       backend="neural", seeds=1)
    assert res2.metrics.num_rows > 0
    with pytest.raises(ScenarioError, match="not a local model folder"):
        seedbed.run(load_scenario("seed", TINY + ['neural.model="/nonexistent"']), backend="neural")
    assert res.verdict.n_seeds == 1


def test_neural_sweep_points_are_the_runs_with_the_same_seeds(tmp_path):
    """A sampled sweep on the neural backend: each point × seed is that seed's run (scenario arm)."""
    from seedbed.metrics import final_values

    scn = load_scenario("seed", TINY + ["neural.rounds=2"])
    res = seedbed.sweep(scn, {"judge.bonus": [0.0, 1.5]}, backend="neural", seeds=2, out=tmp_path / "sw", workers=1)
    run = seedbed.run(scn.with_overrides({"judge.bonus": 1.5}), backend="neural", seeds=2)
    by_seed = res.values("probe/fix_rate")[1][np.argsort(res.seeds)]
    np.testing.assert_array_equal(by_seed, final_values(run.metrics, "probe/fix_rate"))
    assert not (tmp_path / "sw" / "work").exists()                  # per-task checkpoints go once the part is saved
