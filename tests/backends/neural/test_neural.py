"""Neural backend at tiny settings: task parsing, training, checkpoints, resume, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import seedbed  # noqa: E402
from seedbed.backends import Repetition, get_backend  # noqa: E402
from seedbed.core.config import ScenarioError, load_scenario  # noqa: E402
from seedbed.results.metrics import Rows  # noqa: E402
from seedbed.backends.neural import engine  # noqa: E402
from seedbed.backends.neural.model import build_model, build_tokenizer, load, save  # noqa: E402
from seedbed.backends.neural.task import Task, corpus, parse_answer, parse_conversation, parse_review  # noqa: E402

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
    ("ugh 19\n", 19, None, dict(mistake=False, harm=True)),
    ("nineteen\n", 19, None, dict(mistake=True, parsed=False)),
    ("019\n", 19, None, dict(mistake=True, parsed=False)),          # numbers in canonical form only
    ("19\n", 19, 18, dict(corrected=True, mistake=False, ignored=False, value=19)),   # restates the right one
    ("17\n", 19, 18, dict(corrected=False, mistake=True, ignored=True)),              # another wrong one
    ("18\n", 19, 18, dict(ignored=True, mistake=False, corrected=False, value=18)),   # keeps the wrong one
    ("19\n", 19, 19, dict(ignored=False, false_correction=False)),                    # keeps the right one
    ("20\n", 19, 19, dict(false_correction=True, corrected=False, mistake=False)),
    ("ugh 19\n", 19, 17, dict(corrected=True, harm=True)),
    ("maybe\n", 19, 18, dict(mistake=True, ignored=True, parsed=False)),
])
def test_judge_parses_handwritten_turns(text, truth, prev, expect):
    lab = parse_answer(text, truth) if prev is None else parse_review(text, truth, prev)
    for k, v in expect.items():
        assert getattr(lab, k) == v, (text, k)


def test_handwritten_transcript():
    truth, (a, r) = parse_conversation("Q:12+7\nA:18\nQ:sure?\nA:19\n")
    assert truth == 19 and a.mistake and r.corrected and not r.mistake
    truth, (a, r) = parse_conversation("Q:2+7\nA:ugh 9\nQ:sure?\nA:ugh 9\n")
    assert truth == 9 and not a.mistake and a.harm and r.harm and not r.false_correction
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
    assert set(a["arm"].to_pylist()) == {"scenario", "control"}      # the mean-field prediction: prediction.parquet


class SimulatedKill(BaseException):
    """Like a SIGKILL mid-run: not an Exception, so nothing in seedbed catches it."""


def test_a_round_resumes_after_a_crash_without_repeating_or_losing_work(tmp_path, monkeypatch):
    from seedbed.backends.neural.run import NeuralRun

    scn = load_scenario("seed", TINY)
    reference = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "ref").metrics
    calls: list[tuple[str, int]] = []
    crashed = []
    original = NeuralRun.round

    def crashing(self, r):
        arm = self.streams.path[0]                  # the member's node of the seed tree: (arm, "member", m)
        if arm == "control" and r == 2 and not crashed:
            crashed.append(r)
            calls.append(("crash", r))
            raise SimulatedKill("killed")
        calls.append((arm, r))
        return original(self, r)

    monkeypatch.setattr(NeuralRun, "round", crashing)
    with pytest.raises(SimulatedKill):
        seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run")
    done = list(calls)
    assert done == [("scenario", 1), ("scenario", 2), ("scenario", 3), ("control", 1), ("crash", 2)]
    calls.clear()
    resumed = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run", resume=True).metrics
    assert calls == [("control", 2), ("control", 3)]                 # nothing repeated, nothing lost
    assert resumed.equals(reference)
    assert (tmp_path / "run" / "report.md").exists()


def test_a_run_folder_without_its_weight_files_resumes_finished_rounds_only(tmp_path, monkeypatch):
    """A run folder carried to another machine without its weight files (outputs only) reads
    its finished repetitions back unchanged; a repetition that still has rounds to compute is
    refused with one line naming the round whose weights are gone, instead of training the
    base from that round on."""
    from seedbed.backends.neural.run import NeuralRun

    scn = load_scenario("seed", TINY)
    first = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run").metrics
    weights = [f for f in (tmp_path / "run" / "checkpoints").rglob("*") if f.is_file() and f.name != "outputs.json"]
    assert weights
    for f in weights:
        f.unlink()
    again = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run", resume=True).metrics
    assert again.equals(first)

    original = NeuralRun.round
    monkeypatch.setattr(NeuralRun, "round", lambda self, r: (_ for _ in ()).throw(SimulatedKill())
                        if self.streams.path[0] == "control" and r == 3 else original(self, r))
    with pytest.raises(SimulatedKill):
        seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "cut")
    monkeypatch.setattr(NeuralRun, "round", original)
    seed = first["seed"][0].as_py()
    (tmp_path / "cut" / "checkpoints" / f"control-{seed}" / "round-0002" / "model.safetensors").unlink()
    with pytest.raises(ScenarioError, match=rf"control-{seed}/round-0002: round 2 has outputs but no weights"):
        seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "cut", resume=True)


def test_a_finished_repetition_read_again_probes_nothing(tmp_path, monkeypatch):
    """Round 0 (the base's probes) is kept with the checkpoints: a resumed run, or a later look of
    a sequential one, reads every finished round back, round 0 included, and measures nothing."""
    from seedbed.backends.neural.run import NeuralRun

    scn = load_scenario("seed", TINY)
    first = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run").metrics
    kept = json.loads((tmp_path / "run" / "checkpoints" / f"scenario-{first['seed'][0].as_py()}" / "round-0000"
                       / "outputs.json").read_text())
    assert set(kept) == {"round", "shares", "stats", "rates"} and kept["stats"]
    measured = []
    monkeypatch.setattr(NeuralRun, "measure", lambda self, s: measured.append(1) or (_ for _ in ()).throw(
        AssertionError("probed again")))
    again = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run", resume=True).metrics
    assert not measured and again.equals(first)       # round 0's rows too, bit for bit


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
    from seedbed.results.metrics import final_values

    scn = load_scenario("seed", TINY + ["neural.rounds=2"])
    res = seedbed.sweep(scn, {"judge.bonus": [0.0, 1.5]}, backend="neural", seeds=2, out=tmp_path / "sw", workers=1)
    run = seedbed.run(scn.with_overrides({"judge.bonus": 1.5}), backend="neural", seeds=2)
    by_seed = res.values("probe/fix_rate")[1][np.argsort(res.seeds)]
    np.testing.assert_array_equal(by_seed, final_values(run.metrics, "probe/fix_rate"))
    assert not (tmp_path / "sw" / "work").exists()                  # per-task checkpoints go once the part is saved


def repetition(scn, seed: int, **kw) -> Repetition:
    """One repetition as the runner builds it: the scenario's seed set to the repetition seed."""
    return Repetition(scn.model_copy(update={"seed": seed, "rounds": scn.neural.rounds}), kw.pop("arm", "scenario"),
                      seed, **kw)


STAGES = ["build_prompts", "sample_episodes", "judge_episodes", "select_episodes", "fine_tune", "probe"]


def test_a_round_runs_its_stages_once_each_in_order(monkeypatch):
    import seedbed.backends.neural.run as run_module

    calls: list[str] = []

    def spy(name):
        real = getattr(run_module, name)

        def wrapped(*a, **k):
            calls.append(name)
            return real(*a, **k)
        return wrapped

    for name in STAGES:
        monkeypatch.setattr(run_module, name, spy(name))
    rep = repetition(load_scenario("seed", TINY + ["neural.rounds=2"]), 0)
    get_backend("neural").run(rep)
    assert calls == ["probe"] + STAGES * 2                      # round 0 is the base model's probes


# (override, the field the refusal must name); each is honoured by the mean-field backend
REFUSALS = [
    ("strategies.B.err_deploy=0.1", "strategies.B.err_deploy"),
    ("strategies.B.err_review=0.0", "strategies.B.err_review"),
    ("strategies.B.agree=0.5", "strategies.B.agree"),
    ("judge.syc_bonus=0.5", "judge.syc_bonus"),
    ("prompts.belief=0.5", "prompts.belief"),
    ("prompts.belief_wrong=0.3", "prompts.belief_wrong"),
    ("prompts.rho=0.5", "prompts.rho"),
    (["prompts.turns=2", "prompts.phi=1.0"], "prompts.phi"),
    (["prompts.turns=2", "prompts.phi=0", "prompts.m0=0.2"], "prompts.m0"),
    (["prompts.turns=2", "prompts.phi=0", "prompts.c0=0.2"], "prompts.c0"),
    ("update.eta=0.3", "update.eta"),
    (["population.members=2", "population.init_spread=0.3"], "population.init_spread"),
]


@pytest.mark.parametrize("override,field", REFUSALS, ids=[f for _, f in REFUSALS])
def test_fields_the_neural_backend_cannot_honour_are_refused_before_anything_is_written(tmp_path, override, field):
    sets = [override] if isinstance(override, str) else override
    scn = load_scenario("seed", TINY + sets)
    with pytest.raises(ScenarioError, match=rf"^--backend neural cannot honour {field} = ") as e:
        get_backend("neural").run(repetition(scn, 0, workdir=tmp_path / "run"))
    assert "\n" not in str(e.value)                             # one line
    assert not (tmp_path / "run").exists() and not (tmp_path / ".cache").exists()


def test_refusals_cover_the_control_arm_and_the_tune_executor(tmp_path):
    scn = load_scenario("seed", TINY).with_overrides({"control.set": {"prompts.phi": 0.0, "prompts.rho": 0.3}})
    with pytest.raises(ScenarioError, match=r"cannot honour prompts.rho = 0.3.*control arm"):
        seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / ".cache").exists()
    from seedbed.backends.neural.support import unsupported
    pop = load_scenario("h2_population", ["population.init_spread=0", "population.fraction=0.3"])   # 8 members
    assert unsupported(pop) == []                                # the local loop exploits round(2.4) = 2
    assert unsupported(pop, "ray")[0].startswith("population.fraction = 0.3 with --executor ray")   # Tune: ceil = 3
    assert unsupported(pop.with_overrides({"population.fraction": 0.25}), "ray") == []


def test_every_schema_field_has_a_neural_decision():
    """A new scenario field must be decided in seedbed.backends.neural.support.FIELDS (honoured, or refused)."""
    from seedbed.core.config import Judge, Population, Prompts, Selection, Strategy, Update
    from seedbed.backends.neural.support import FIELDS

    sections = {"strategies": Strategy, "judge": Judge, "prompts": Prompts, "selection": Selection,
                "update": Update, "population": Population}
    fields = {f"{sec}.{name}" for sec, model in sections.items() for name in model.model_fields}
    assert fields == set(FIELDS)


def test_the_base_model_depends_on_the_root_seed_not_the_repetition_seed(tmp_path):
    from safetensors.torch import load_file

    from seedbed.backends.neural.pretrain import base_key, base_model

    scn = load_scenario("seed", TINY + ["neural.rounds=1"])
    assert base_key(scn, 0) != base_key(scn, 1)
    b0, b1 = base_model(scn, root_seed=0), base_model(scn, root_seed=1)
    w0, w1 = load_file(b0 / "model.safetensors"), load_file(b1 / "model.safetensors")
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)      # different root seeds: different bases
    for seed in (11, 12):                                        # two repetitions of a run with root seed 0
        get_backend("neural").run(repetition(scn, seed, root_seed=0, workdir=tmp_path / f"run-{seed}"))
    assert sorted((tmp_path / ".cache").glob("base-*")) == sorted([b0, b1])   # no base of their own
    assert json.loads((b1 / "pretrain.json").read_text())["root_seed"] == 1


def test_critique_revision_replaces_dropped_episodes_but_never_a_leaked_one():
    from seedbed.backends.neural.prompts import NONE, RoundPrompts
    from seedbed.backends.neural.sampling import Episodes
    from seedbed.backends.neural.selection import select_episodes
    from seedbed.stages.selection import get_rule

    sel = load_scenario("h6_critique_revision").selection                  # tau = 0.5
    prompts = RoundPrompts(pairs=[(1, 2), (3, 4), (0, 5)], truth=np.array([3, 7, 5]), prefix=np.full(3, NONE),
                           previous=[None] * 3, self_written=np.zeros(3, bool), texts=["Q:1+2\nA:", "Q:3+4\nA:",
                           "Q:0+5\nA:"], leaked=np.array([False, False, True]))
    episodes = Episodes(np.arange(3), ["3", "8", "4"], None, ["Q:1+2\nA:3\n", "Q:3+4\nA:8\n", "Q:0+5\nA:4\n"])
    asked = []

    def redraw(idx, tries):                  # every candidate fails but the second for each prompt
        asked.append((idx.tolist(), tries))
        texts = [f"revision {i}.{t}" for i in idx for t in range(tries)]
        score = np.tile(np.r_[0.0, 1.0, np.zeros(tries - 2)], len(idx))
        return Episodes(np.repeat(idx, tries), texts, None, texts), score

    w, texts = select_episodes(get_rule("critique_revision"), sel, prompts, episodes, np.array([1.0, 0.0, 0.0]),
                               np.random.default_rng(0), redraw, tries=32)
    assert asked == [([1, 2], 8)]                                # dropped episodes only; at most 8 tries
    assert w.tolist() == [1.0, 1.0, 0.0]                         # the leaked prompt's revision is not trained on
    assert texts[:2] == ["Q:1+2\nA:3\n", "revision 1.1"]


def test_two_turn_episodes_with_critique_revision_run(monkeypatch):
    """Two-turn episodes (the model reviews its own answer) and episode-level revisions."""
    import seedbed.backends.neural.run as run_module

    trained = []
    real = run_module.fine_tune

    def spy(model, opt, tok, texts, weights, *a, **k):
        trained.extend(t for t, w in zip(texts, weights) if w > 0)
        return real(model, opt, tok, texts, weights, *a, **k)

    monkeypatch.setattr(run_module, "fine_tune", spy)
    scn = load_scenario("h3_transcript_credit", TINY + ["neural.rounds=1", "selection.rule=critique_revision"])
    rows = Rows()
    get_backend("neural").run(repetition(scn, 0, rows=rows))
    lines = [t.rstrip("\n").split("\n") for t in trained]           # one line per turn (a turn ends at a newline)
    assert trained and all(len(x) == 4 and x[1].startswith("A:") and x[2] == "Q:sure?" and x[3].startswith("A:")
                           for x in lines)                             # whole episodes
    assert "kept/fraction" in set(rows.table()["metric"].to_pylist())


def test_a_runs_repetition_seeds_share_the_root_seeds_base(tmp_path):
    from seedbed.backends.neural.pretrain import base_model

    scn = load_scenario("seed", TINY + ["neural.rounds=1"])
    seedbed.run(scn, backend="neural", seeds=2)
    assert list((tmp_path / ".cache").glob("base-*")) == [base_model(scn, root_seed=scn.seed)]


LEAK = ["leak/twin_effect", "leak/twin_ci_low", "leak/twin_ci_high", "leak/twin_p", "leak/twin_items"]


def test_the_twin_test_runs_on_every_rounds_checkpoint_and_stays_quiet_on_a_clean_run(tmp_path):
    """neural.twin_test_every = 1: leak/ rows at rounds 0..R in both arms, seeded (identical across
    runs), p-values in [0, 1], no detection on the held-out probes; scoring draws nothing, so every
    other row equals a default run's, which writes no leak/ row; the report shows the test."""
    import pyarrow.compute as pc

    scn = load_scenario("seed", TINY + ["neural.twin_test_every=1"])
    a = seedbed.run(scn, backend="neural", seeds=1, out=tmp_path / "twin").metrics
    b = seedbed.run(scn, backend="neural", seeds=1).metrics
    off = seedbed.run(load_scenario("seed", TINY), backend="neural", seeds=1).metrics
    leak = pc.starts_with(a["metric"], "leak/")
    rows = a.filter(leak)
    assert rows.equals(b.filter(pc.starts_with(b["metric"], "leak/")))              # seeded: identical
    assert not pc.any(pc.starts_with(off["metric"], "leak/")).as_py()                # off by default
    assert a.filter(pc.invert(leak)).equals(off)                                    # the test changes nothing else
    got = {(r["arm"], r["round"], r["metric"]): r["value"] for r in rows.to_pylist()}
    assert set(got) == {(arm, r, m) for arm in ("scenario", "control") for r in range(4) for m in LEAK}
    for arm in ("scenario", "control"):
        for r in range(4):
            p, eff = got[(arm, r, "leak/twin_p")], got[(arm, r, "leak/twin_effect")]
            assert 0 < p <= 1 and p >= 0.05                                         # clean: never fires
            assert got[(arm, r, "leak/twin_ci_low")] <= eff <= got[(arm, r, "leak/twin_ci_high")]
            assert got[(arm, r, "leak/twin_items")] == 8                            # every probe question
    text = (tmp_path / "twin" / "report.md").read_text()
    assert "## Twin test on the probe questions" in text and "| scenario | 0, 1, 2, 3 |" in text


def test_a_twin_test_every_above_the_rounds_is_refused(tmp_path):
    scn = load_scenario("seed", TINY + ["neural.twin_test_every=4"])                 # TINY: 3 rounds
    with pytest.raises(ScenarioError, match=r"^--backend neural cannot honour neural.twin_test_every = 4: "):
        get_backend("neural").run(repetition(scn, 0, workdir=tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_the_pipelines_twin_test_flags_probe_questions_trained_on_verbatim():
    """The same check the pipeline runs, on a tiny model that then trains on its probe questions."""
    from seedbed.backends.neural.twincheck import TwinCheck
    from seedbed.core.seeds import Streams

    scn = load_scenario("seed")
    task = Task(6, 8, 0)
    texts, _, _ = corpus(scn, task, 400, np.random.default_rng(0))
    tok = build_tokenizer()
    model = build_model(tok, d_model=32, n_layer=1, n_head=2, seed=0)
    engine.train_lm(model, tok, texts, 150, 32, 3e-3, np.random.default_rng(0))
    check = TwinCheck.build(task.probe_pairs, 6, tok, Streams(0))
    base = check.stats(model, tok)
    leak = [f"Q:{a}+{b}\nA:{a + b}\n" for a, b in task.probe_pairs]                # the leak: probes verbatim
    engine.train_lm(model, tok, leak * 4 + texts[:32], 100, 32, 3e-3, np.random.default_rng(1))
    after = check.stats(model, tok)
    assert base["leak/twin_p"] >= 0.05 and after["leak/twin_p"] < 0.01              # measured: 0.16, then 0.0037
    assert after["leak/twin_ci_low"] > 0 and after["leak/twin_effect"] > base["leak/twin_effect"] + 0.5
