"""Stdout belongs to seedbed: a user callable that prints (a debugging print in a judge, at
import or per call) cannot corrupt ``--json`` output; its lines go to stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PRINTING = '''
print("importing my judge")

def judge(turns):
    print("scoring", len(turns), "turns")
    t = turns[-1]
    return 1.0 - float(t["mistake"]) + float(t["corrected"])


def text_judge(messages):
    print("reading", len(messages), "messages")
    return float(len(messages[-1]["content"]) < 8)
'''


def _run(tmp_path, *args):
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / ".mpl")}
    return subprocess.run([sys.executable, "-m", "seedbed.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_printing_judge_leaves_audit_json_parseable(tmp_path):
    (tmp_path / "noisy.py").write_text(PRINTING)
    r = _run(tmp_path, "audit", "noisy:judge", "--json")
    data = json.loads(r.stdout)                               # the whole of stdout is the JSON
    assert data["judge"] == "noisy:judge"
    assert "importing my judge" in r.stderr and "scoring" in r.stderr


def test_a_printing_text_judge_leaves_the_premium_json_parseable(tmp_path):
    (tmp_path / "noisy.py").write_text(PRINTING)
    r = _run(tmp_path, "audit", "noisy:text_judge", "--reads", "text", "--items", "5", "--json")
    data = json.loads(r.stdout)
    assert data["judge"] == "noisy:text_judge" and "premium" in data
    assert "reading" in r.stderr
