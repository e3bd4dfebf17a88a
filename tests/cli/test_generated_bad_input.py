"""Bad input found by generated cases: scenarios and CLI arguments built by mutating the
shipped presets. For every case: either a clean result (exit 0, a finished folder), or exit 2
with one line naming the file, field or flag and no folder left; never a traceback.

Classes of cases (hypothesis draws them):
* ``set``: a field of the preset (any dotted path found in its TOML) set to a value of another
  type or an extreme: strings, booleans, lists, tables, huge and tiny finite numbers (±1e308,
  1e-308), negatives, zero, 'nan' / 'inf' spellings;
* ``unknown``: a field that does not exist, at the top or inside a section;
* ``text``: the preset's file with a line deleted, duplicated or cut, or bytes that are not
  UTF-8, or emptied;
* ``path``: a folder, a missing file, an empty file, a name with odd characters;
* ``name``: a strategy renamed (empty, blank, duplicate, unicode, very long);
* ``flag``: an unknown backend, a bad ``--set`` spelling.
Runs use the exact backend with few rounds so the whole default run stays within a minute;
``-m slow`` draws many more cases.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from seedbed.cli import app
from seedbed.core.config import list_presets

PRESETS = [p for p in list_presets() if tomllib.loads(p.read_text()).get("kind", "pipeline") == "pipeline"]
SKIP_KEYS = {"rounds", "neural.rounds", "seed"}          # a huge round count is a long run, not bad input
VALUES = st.one_of(
    st.sampled_from(["'text'", "true", "false", "[]", "[1, 2]", "{}", "{a = 1}", "1e308", "-1e308", "1e-308",
                     "-1", "0", "-0.5", "2", "1e6", "'nan'", "'inf'", "'-inf'", "''", "'ü∂'"]),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.integers(min_value=-10**12, max_value=10**12).map(str),
)


def _keys(raw: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in raw.items():
        if k == "strategies" and isinstance(v, list):
            for s in v:
                out += [f"strategies.{s['name']}.{f}" for f in s if f != "name"]
        elif isinstance(v, dict):
            out += _keys(v, f"{prefix}{k}.")
        else:
            out.append(prefix + k)
    return [k for k in out if k not in SKIP_KEYS]


@st.composite
def cases(draw):
    """(scenario argument, extra CLI arguments, a note of the mutation)."""
    preset = draw(st.sampled_from(PRESETS))
    raw = tomllib.loads(preset.read_text())
    kind = draw(st.sampled_from(["set", "set", "set", "unknown", "text", "path", "name", "flag"]))
    if kind == "set":
        key, value = draw(st.sampled_from(_keys(raw))), draw(VALUES)
        return preset.stem, ["--set", f"{key}={value}"], f"set {key}={value}"
    if kind == "unknown":
        key = draw(st.sampled_from(["bogus", "judge.bogus", "prompts.phii", "strategies.A.errr", "control.bogus"]))
        return preset.stem, ["--set", f"{key}=1"], f"unknown {key}"
    if kind == "name":
        name = draw(st.sampled_from(["", " ", "B", "ü", "x" * 300, "a.b", "A B"]))
        return ("text:" + preset.read_text().replace('name = "A"', f'name = "{name}"', 1), [], f"rename A to {name!r}")
    if kind == "text":
        lines = preset.read_text().splitlines(keepends=True)
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "duplicate", "cut", "binary", "empty"]))
        text = {"delete": "".join(lines[:i] + lines[i + 1:]), "duplicate": "".join(lines[:i + 1] + lines[i:]),
                "cut": "".join(lines)[: draw(st.integers(0, len("".join(lines))))],
                "binary": "".join(lines[:i]) + "\udcff\udcfe", "empty": ""}[how]
        return "text:" + text, [], f"{how} line {i}"
    if kind == "path":
        return draw(st.sampled_from(["path:folder", "path:missing.toml", "path:empty.toml", "path:odd ☃.toml"])), [], \
            "path"
    flag = draw(st.sampled_from([["--backend", "nope"], ["--set", "novalue"], ["--set", "=1"], ["--set", "judge."]]))
    return preset.stem, flag, f"flag {flag}"


def _scenario_arg(spec: str, tmp: Path) -> str:
    if spec.startswith("text:"):
        f = tmp / "mutated.toml"
        f.write_bytes(spec[5:].encode("utf-8", "surrogateescape"))
        return str(f)
    if spec.startswith("path:"):
        what = spec[5:]
        if what == "folder":
            (tmp / "folder").mkdir(exist_ok=True)
            return str(tmp / "folder")
        if what == "empty.toml":
            (tmp / what).write_text("")
        return str(tmp / what)
    return spec


def check_case(case, tmp: Path) -> None:
    spec, extra, note = case
    out = tmp / "out"
    args = ["run", _scenario_arg(spec, tmp), "--backend", "meanfield", "--set", "rounds=3", *extra, "--out", str(out)]
    r = CliRunner().invoke(app, args)
    text = r.output.strip()
    assert r.exception is None or isinstance(r.exception, SystemExit), (note, repr(r.exception))
    assert "Traceback" not in text, (note, text)
    if r.exit_code == 0:
        assert (out / "manifest.json").exists(), (note, text)
        return
    assert r.exit_code == 2, (note, r.exit_code, text)
    assert not out.exists(), (note, "a folder was left", text)
    if text.startswith("error:"):
        assert len(text.splitlines()) == 1, (note, text)
    else:                                                    # typer's own usage error: a box naming the flag
        assert "Invalid value" in text or "No such option" in text or "Missing" in text, (note, text)


def _run_cases(tmp_path_factory, case):
    check_case(case, tmp_path_factory.mktemp("case"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow], derandomize=True)
@given(case=cases())
def test_generated_bad_input_is_one_line_and_exit_2_or_a_clean_run(tmp_path_factory, case):
    _run_cases(tmp_path_factory, case)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(case=cases())
def test_many_generated_bad_inputs(tmp_path_factory, case):
    _run_cases(tmp_path_factory, case)


@pytest.mark.parametrize("case", [
    ("path:folder", [], "a scenario path that is a folder"),
    ("seed", ["--set", "judge.bonus=1e308", "--backend", "agent", "--seeds", "2"], "a finite but huge bonus"),
])
def test_named_regressions(tmp_path, case):
    check_case(case, tmp_path)
