"""A full disk: a run into a folder on a small filesystem (a tmpfs mounted here, as root)
ends with one line naming the folder, leaves no half-written file, and resumes once space is
back to the same files, byte for byte, as a run that never ran out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None,
                                reason="mounting a tmpfs needs root")

DATA = ("metrics.parquet", "lineage.jsonl", "scenario.toml", "conditions.parquet", "start_dependence.json",
        "manifest.json", "report.md")


def _seedbed(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLCONFIGDIR": str(cwd / ".mpl")}
    return subprocess.run([sys.executable, "-m", "seedbed.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_disk_is_one_line_no_half_file_and_the_run_resumes(tmp_path, small_disk):
    args = ["run", "seed", "--backend", "agent", "--seeds", "2", "--set", "agent.conversations=2000"]
    ref = tmp_path / "ref"
    assert _seedbed(tmp_path, *args, "--out", str(ref)).returncode == 0
    out = small_disk / "run"
    r = _seedbed(tmp_path, *args, "--out", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "no space left" in lines[0] and str(out) in lines[0], r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert out.is_dir() and not list(out.rglob("*.part")) and not list(out.rglob("*.tmp"))
    assert not (out / "manifest.json").exists()             # not a finished run
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    r = _seedbed(tmp_path, *args, "--out", str(out), "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in DATA:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
