"""The README's CLI tour, run in order from a fresh folder, shrunk to tiny settings.

Each command of the tour block is parsed from README.md (so the test follows the README),
given small sizes (few rounds and samples, short grids), and run with the CLI in a fresh
working directory, in order: later commands see the folders earlier ones left, as a user's
would. Neural and Ray commands run only with `-m slow`; a command with a placeholder path
(`path/to/...`) or `cuda` is skipped.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seedbed.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
PIPELINE = ["rounds=3", "agent.conversations=200", "agent.probes=50"]
NEURAL = ["neural.rounds=1", "neural.corpus_size=300", "neural.pretrain_steps=20", "neural.prompts_per_round=16",
          "neural.probe_size=16", "neural.d_model=16", "neural.n_layer=1", "neural.n_head=2",
          "population.members=2", "population.interval=1"]
KRUEGER = ["krueger.steps=40", "krueger.trials=2", "krueger.population=[10]", "krueger.last=10"]


def tour() -> list[str]:
    """The commands of the README's CLI tour block, comments stripped."""
    text = README.read_text()
    block = re.search(r"## CLI tour\s+```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no CLI tour block"
    return [re.split(r"\s#\s", line)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def shrink(cmd: str) -> list[str]:
    """The command's arguments with tiny sizes added."""
    args = shlex.split(cmd)[1:]                                     # drop 'seedbed'
    args = [re.sub(r":(\d+)$", lambda m: ":3" if int(m.group(1)) > 3 else m.group(0), a) for a in args]
    if args[0] in ("run", "sweep", "plan"):
        preset = args[1]
        extra = KRUEGER if preset == "krueger" else [] if preset == "h8_grading" else PIPELINE
        if "neural" in args:
            extra = extra + NEURAL
        for s in extra:
            args += ["--set", s]
    return args


def cases():
    out = []
    for cmd in tour():
        marks = []
        if "path/to" in cmd or "cuda" in cmd:
            marks.append(pytest.mark.skip(reason="a placeholder for the user's own model / GPU"))
        elif "neural" in cmd or "--executor ray" in cmd:
            marks.append(pytest.mark.slow)
        out.append(pytest.param(cmd, marks=marks, id=cmd[:60]))
    return out


def test_the_tour_block_is_found_and_names_every_command():
    cmds = tour()
    assert len(cmds) > 10 and all(c.startswith("seedbed ") for c in cmds)
    assert {shlex.split(c)[1] for c in cmds} >= {"list", "run", "sweep", "analyze", "report"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("tour")


@pytest.mark.parametrize("cmd", cases())
def test_readme_tour_in_order(cmd, workdir, monkeypatch):
    monkeypatch.chdir(workdir)                         # one working folder for the whole tour, in order
    monkeypatch.setenv("MPLCONFIGDIR", str(workdir / ".mpl"))
    r = CliRunner().invoke(app, shrink(cmd))
    assert r.exit_code == 0, f"{cmd}\n{r.output}"
