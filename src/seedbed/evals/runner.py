"""``python -m seedbed.evals OUT [inspect eval arguments]``: Inspect's own ``inspect eval``,
kept inside one folder and with an exit status that says whether every task succeeded.

Two things plain ``inspect eval`` does that a script or CI job trips on:

* it writes outside the working folder: traces, a sample buffer and a "last result" marker
  under ``~/.local/share/inspect_ai``, its model cache under ``~/.cache/inspect_ai``, logs
  under ``./logs``;
* it exits 0 when a task fails while it runs (a solver or the model raising): only the log's
  status says ``error``.

This wrapper runs ``python -m inspect_ai eval ARGS`` with ``INSPECT_LOG_DIR=OUT/logs`` and
``XDG_DATA_HOME`` / ``XDG_CACHE_HOME`` under ``OUT/.inspect``, so everything Inspect writes
lands in OUT, then reads the header of every log the run wrote and prints one line per task.
Exit status: 0 when every task's log says ``success``; 1 when any does not (or no log was
written, or Inspect itself failed); 2 for a bad OUT or argument, with one line saying why.

Example (a trained checkpoint, all three tasks)::

    python -m seedbed.evals runs/evals/seed seedbed/first_attempt_incentive \\
        seedbed/reflexive_correction seedbed/two_turn_self_correction \\
        --model seedbed/runs/seed/neural -T n=50 --temperature 0
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

USAGE = ("usage: python -m seedbed.evals OUT TASK [TASK ...] --model MODEL [inspect eval options]\n"
         "  e.g. python -m seedbed.evals runs/evals/seed seedbed/reflexive_correction "
         "--model seedbed/runs/seed/neural -T n=50")
LOG_SUFFIXES = (".eval", ".json")


def inspect_env(out: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment in which Inspect writes only under ``out``: its logs in ``out/logs``,
    its data (traces, sample buffer) and cache in ``out/.inspect``. Everything else in
    ``base`` (default: this process's environment) is passed on unchanged."""
    out = Path(out).resolve()
    env = dict(os.environ if base is None else base)
    env["INSPECT_LOG_DIR"] = str(out / "logs")
    env["XDG_DATA_HOME"] = str(out / ".inspect" / "data")
    env["XDG_CACHE_HOME"] = str(out / ".inspect" / "cache")
    return env


def _logs(folder: Path) -> set[Path]:
    return {p for p in folder.glob("*") if p.suffix in LOG_SUFFIXES} if folder.is_dir() else set()


class TasksFailed(RuntimeError):
    """``inspect eval`` did not succeed: ``status`` is the exit status to pass on (Inspect's own
    when it failed, 1 when a task's log is not ``success`` or no log was written)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def run_tasks(out: Path, args: list[str], stream: Any = None) -> list[Path]:
    """Run ``inspect eval ARGS`` with everything it writes inside ``out``; return the logs it
    wrote, all of them successful, printing one line per log to ``stream`` (default stdout).
    A task that did not succeed, an Inspect exit status other than 0, or no log at all is
    :class:`TasksFailed` saying which."""
    from seedbed.results.folders import check_writable
    from seedbed.core.schema import ScenarioError

    out = Path(out)
    check_writable(out, "OUT")
    if not args:
        raise ScenarioError("no task given: name at least one, e.g. seedbed/reflexive_correction")
    if any(a == "--log-dir" or a.startswith("--log-dir=") for a in args):
        raise ScenarioError(f"--log-dir: the logs go to {out / 'logs'}; leave the option out")
    logs = out / "logs"
    before = _logs(logs)
    rc = subprocess.run([sys.executable, "-m", "inspect_ai", "eval", *args], env=inspect_env(out)).returncode
    written = sorted(_logs(logs) - before)
    if rc != 0:
        raise TasksFailed(f"inspect eval exited with status {rc}", rc)
    if not written:
        raise TasksFailed(f"inspect eval wrote no log in {logs}")
    from inspect_ai.log import read_eval_log

    failed = []
    for path in written:
        head = read_eval_log(str(path), header_only=True)
        why = f": {head.error.message}" if head.status == "error" and head.error else ""
        print(f"{head.eval.task}: {head.status}{why} ({path})", file=stream or sys.stdout)
        if head.status != "success":
            failed.append(path)
    if failed:
        raise TasksFailed(f"{len(failed)} of {len(written)} task(s) did not succeed ({failed[0]})")
    return written


def run_inspect(out: Path, args: list[str]) -> int:
    """:func:`run_tasks` as an exit status (see the module docstring)."""
    try:
        run_tasks(out, args)
    except TasksFailed as e:
        print(e, file=sys.stderr)
        return e.status
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``OUT`` then the arguments for ``inspect eval``."""
    from seedbed.core.schema import ScenarioError

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n\n", 1)[0] + "\n\n" + USAGE)
        return 0 if argv else 2
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        print("error: Inspect is not installed: pip install -c constraints.txt -e '.[eval]'", file=sys.stderr)
        return 2
    try:
        return run_inspect(Path(argv[0]), argv[1:])
    except ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
