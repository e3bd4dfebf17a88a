"""Bad input: exit 2, one line naming the file, field or flag, and nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from seedbed.cli import app
from seedbed.core.config import Scenario, Strategy


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_exit_2(r, *fragments):
    text = r.output.strip()
    assert r.exit_code == 2, r.output
    assert len(text.splitlines()) == 1, text
    assert "Traceback" not in text
    for f in fragments:
        assert f in text, (f, text)


def float_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of every float field of the pipeline schema (strategies addressed as B)."""
    out = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += float_fields(ann, f"{prefix}{name}.")
        elif name == "strategies":
            out += float_fields(Strategy, f"{prefix}strategies.B.")
        elif "float" in str(ann):
            out.append(prefix + name)
    return out


FLOAT_FIELDS = float_fields(Scenario)


def test_the_schema_walk_finds_the_float_fields():
    assert {"judge.bonus", "selection.tau", "strategies.B.err", "strategies.B.err_review", "update.eta",
            "prompts.phi", "neural.lr"} <= set(FLOAT_FIELDS)
    assert len(FLOAT_FIELDS) >= 40


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_scenario_field_refuses_a_non_finite_value(tmp_path, value):
    for path in FLOAT_FIELDS:
        out = tmp_path / path
        v = f"[{value}]" if path == "population.factors" else value        # a list of floats
        r = invoke("run", "seed", "--set", f"{path}={v}", "--out", out)
        one_line_exit_2(r, f"field '{path}", "finite")
        assert not out.exists(), path


@pytest.mark.parametrize("override,fragment", [
    ("population.factors=[nan]", "population.factors"),
    ("population.factors=[-5]", "must all be positive"),
    ("neural.device=tpu", "neural.device"),
    ('name="../../.."', "plain name"),
    ("selection.rule=nope", "unknown selection rule"),
    ("prompts.m0=0.8", None),                          # fine alone; with c0 it breaks the pool
])
def test_bad_overrides(tmp_path, override, fragment):
    out = tmp_path / "x"
    if fragment is None:
        r = invoke("run", "seed", "--set", override, "--set", "prompts.c0=0.5", "--out", out)
        one_line_exit_2(r, "m0 + c0")
    else:
        r = invoke("run", "seed", "--backend", "neural", "--set", override, "--out", out)
        one_line_exit_2(r, fragment)
    assert not out.exists()


def test_bad_flags(tmp_path):
    out = tmp_path / "x"
    for args, fragment in [
        (["run", "seed", "--workers", "-1"], "--workers"),
        (["run", "seed", "--executor", "spark"], "--executor"),
        (["run", "seed", "--backend", "quantum"], "unknown backend 'quantum'"),
        (["sweep", "seed", "--grid", "prompts.phi=nan,1"], "--grid prompts.phi: nan is not a finite number"),
        (["sweep", "seed", "--grid", "prompts.phi=a,b"], "--grid prompts.phi: 'a' is not a finite number"),
        (["sweep", "seed", "--grid", "prompts.phi=0,1", "--metric", "share/Q"], "--metric 'share/Q'"),
        (["sweep", "seed", "--grid", "prompts.phi=a:b:c"], "start:stop:num"),
        (["sweep", "seed", "--grid", "prompts.phi=0,1", "--workers", "0"], "--workers"),
    ]:
        r = invoke(*args, "--out", out)
        assert r.exit_code == 2, (args, r.output)
        assert fragment in " ".join(r.output.split()), (args, r.output)
        assert not out.exists(), args


def test_grid_message_shows_colons_as_text_not_emoji(tmp_path):
    r = invoke("sweep", "seed", "--grid", "prompts.phi=a:b:c", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "a:b:c" in r.output


def test_out_that_is_a_file_or_under_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = invoke("run", "seed", "--out", f)
    one_line_exit_2(r, f"--out {f}: is a file")
    r = invoke("run", "seed", "--out", f / "sub")
    one_line_exit_2(r, "is a file, so no folder can be made under it")
    r = invoke("sweep", "seed", "--grid", "prompts.phi=0,1", "--out", f)
    one_line_exit_2(r, "is a file")
    assert f.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_out_that_cannot_be_written(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    r = invoke("run", "seed", "--out", ro / "x")
    one_line_exit_2(r, "not writable")


@pytest.mark.parametrize("content,fragment", [
    ("[1, 2]\n", "a JSON list where an object or a string was expected"),
    ("3\n", "a JSON int"),
    ("null\n", "a JSON NoneType"),
    ('{"foo": 1}\n', "no 'input', 'text', 'prompt', 'question' or 'messages' field"),
    ("{not json\n", "not valid JSON"),
])
def test_contamination_bad_jsonl_lines(tmp_path, content, fragment):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    good = tmp_path / "good.jsonl"
    good.write_text('{"input": "What is 2 + 3?"}\n')
    for args in (["--eval", bad, "--train", good], ["--eval", good, "--train", bad]):
        r = invoke("contamination", *args, "--out", tmp_path / "clean.jsonl")
        one_line_exit_2(r, f"{bad}:1", fragment)
        assert not (tmp_path / "clean.jsonl").exists()


def test_contamination_bad_files(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"input": "What is 2 + 3?"}\n')
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for bad, fragment in ((latin, "not UTF-8"), (tmp_path, "not a file"), (empty, "no items"),
                          (tmp_path / "missing.jsonl", "no such file")):
        r = invoke("contamination", "--eval", bad, "--train", good)
        one_line_exit_2(r, str(bad), fragment)
    r = invoke("contamination", "--eval", good, "--train", good, "--out", tmp_path)
    one_line_exit_2(r, "is a folder")


def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    r = invoke("report", tmp_path / "missing")
    one_line_exit_2(r, "no such run folder")
    r = invoke("report", tmp_path)
    one_line_exit_2(r, "not a finished seedbed run")
