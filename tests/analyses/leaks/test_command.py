"""seedbed contamination --model: the twin test on a checkpoint from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from seedbed.cli import app


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("torch")
    from seedbed.backends.neural.model import build_model, build_tokenizer, save

    tok = build_tokenizer()
    path = tmp_path_factory.mktemp("model") / "tiny"
    save(build_model(tok, d_model=16, n_layer=1, n_head=2, n_positions=64), tok, path)
    return path


def invoke(*args):
    return CliRunner().invoke(app, ["contamination", *map(str, args)])


def test_model_flag_runs_the_twin_test_on_the_built_in_items(tiny_model, tmp_path):
    rep = tmp_path / "twins.json"
    r = invoke("--model", tiny_model, "--n-twins", 2, "--twin-report", rep)
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "n = 100 items, k = 2 twins" in r.output and "permutation test p" in out
    assert "Min-K%++" in out
    data = json.loads(rep.read_text())
    assert data["ll"]["n"] == 100 and len(data["rows"]) == 300 and data["style"] == "plain"
    assert {row["question"] for row in data["rows"] if row["twin"] == -1} <= {f"{a}+{b}" for a in range(20)
                                                                             for b in range(20)}


def test_a_user_eval_set_with_its_own_twin_generator(tiny_model, tmp_path, monkeypatch):
    (tmp_path / "mytwins.py").write_text(
        "def twin(item, rng):\n"
        "    a, b = (int(x) for x in rng.integers(10, 99, 2))\n"
        "    return {'question': f'{a}*{b}', 'answer': str(a * b)}\n")
    ev = tmp_path / "eval.jsonl"
    ev.write_text("".join(json.dumps({"question": f"{a}*{a + 1}", "answer": str(a * (a + 1))}) + "\n"
                          for a in range(10, 30)))
    monkeypatch.chdir(tmp_path)
    r = invoke("--model", tiny_model, "--eval", ev, "--twins", "mytwins:twin", "--n-twins", 3)
    assert r.exit_code == 0, r.output
    assert "n = 20 items, k = 3 twins" in " ".join(r.output.split())


@pytest.mark.parametrize("args, fragment", [
    ((), "needs --eval and --train"),
    (("--model", "nowhere"), "--model nowhere: not a model folder"),
    (("--model", "{model}", "--eval", "{eval}"), "needs --twins"),
    (("--model", "{model}", "--eval", "{eval}", "--twins", "nosuchmodule:f"), "--twins 'nosuchmodule:f': cannot import"),
    (("--model", "{model}", "--n-twins", "0"), "--n-twins = 0"),
])
def test_bad_model_input_is_one_line_and_exit_2(tiny_model, tmp_path, args, fragment):
    ev = tmp_path / "eval.jsonl"
    ev.write_text(json.dumps({"question": "1+1", "answer": "2"}) + "\n" + json.dumps({"question": "2+2", "answer": "4"}))
    args = [a.format(model=tiny_model, eval=ev) for a in args]
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert fragment in r.output.replace("\n", " ")
    assert list(tmp_path.iterdir()) == [ev]
