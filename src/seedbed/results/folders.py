"""Output folders that never mix: one run (or sweep) per folder, held under a lock.

* :func:`claim` checks that a folder can be written, takes an exclusive lock on it for
  the life of the run (a second process on the same folder is refused, the first is
  unharmed), and refuses a folder that holds something else: a different run (it says
  what differs), the same run already there (``resume`` continues it, ``force`` replaces
  it), or files that are not seedbed's (never deleted).
* :func:`default_folder` picks the first free folder ``base``, ``base-2``, ``base-3``, ...
  so default outputs never collide.
* A finished run is complete or absent: its manifest is written last and lists the
  SHA-256 of every data file; :func:`verify` checks them before a report reads anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from seedbed.results.writing import file_hashes, remove_leftovers, write_json  # noqa: F401  (file_hashes: re-exported for callers)
from seedbed.core.schema import ScenarioError, StoppedRun

SPEC = ".seedbed-spec.json"       # what this folder holds (written when claimed)
LOCK = ".seedbed.lock"            # held (flock) while a process writes the folder
OWN = {SPEC, LOCK}


def check_writable(out: Path, flag: str = "--out") -> None:
    """Refuse a folder path that is a file, lies under a file, or cannot be created or written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"{flag} {out}: is a file, not a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ScenarioError(f"{flag} {out}: {probe} is a file, so no folder can be made under it")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ScenarioError(f"{flag} {out}: {probe} is not writable")


def default_folder(base: Path) -> Path:
    """``base`` if it is absent or empty, else the first absent or empty ``base-N`` (N ≥ 2)."""
    base = Path(base)
    n = 1
    cand = base
    while cand.exists() and (not cand.is_dir() or any(cand.iterdir())):
        n += 1
        cand = base.with_name(f"{base.name}-{n}")
    return cand


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {json.dumps(a, default=str)} → {json.dumps(b, default=str)}")
    return out


@contextmanager
def claim(out: Path, what: str, spec: dict[str, Any], resume: bool = False, force: bool = False,
          resume_flag: str = "--resume", force_flag: str = "--force") -> Iterator[Path]:
    """Hold ``out`` for one run described by ``spec`` (plain JSON data) while the block runs.

    ``what`` names the run in messages ("a meanfield run of seed"). Without ``resume`` or
    ``force`` only an absent or empty folder is accepted. A folder this call created is
    removed again if the block fails with a user error (bad input found late writes nothing).
    """
    out = Path(out)
    check_writable(out)
    fresh = not out.exists() or not any(out.iterdir())
    if not fresh and not (out / SPEC).exists():
        others = sorted(p.name for p in out.iterdir() if p.name not in OWN)
        if others:
            raise ScenarioError(f"{out}: not empty and holds no seedbed run ({', '.join(others[:3])}"
                                f"{', ...' if len(others) > 3 else ''}); choose another --out")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    lock = open(out / LOCK, "a+")
    ok = False
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ScenarioError(f"{out}: another seedbed process is writing this folder; wait for it or use "
                                "another --out") from None
        spec = json.loads(json.dumps(spec, default=str))
        held = _read_spec(out)
        others = [p.name for p in out.iterdir() if p.name not in OWN]
        if held is not None and (others or held.get("spec") != spec):
            if force:
                for p in out.iterdir():
                    if p.name != LOCK:
                        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            elif held.get("spec") != spec:
                diff = _differences(held.get("spec", {}), spec)
                raise ScenarioError(f"{out}: holds {held.get('what', 'another run')}, which differs "
                                    f"({'; '.join(diff[:4])}{'; ...' if len(diff) > 4 else ''}); choose another "
                                    f"--out, or {force_flag} to replace it")
            elif not resume:
                state = "a finished" if (out / "manifest.json").exists() else "an unfinished"
                raise ScenarioError(f"{out}: holds {state} copy of this run; {resume_flag} to continue it, "
                                    f"{force_flag} to replace it, or choose another --out")
            else:
                (out / "manifest.json").unlink(missing_ok=True)   # incomplete until it is written again
        remove_leftovers(out)             # half-writes of a killed process; the lock says none is writing now
        write_json(out / SPEC, {"what": what, "spec": spec})
        yield out
        ok = True
    except ScenarioError as e:
        if created and not ok and not isinstance(e, StoppedRun):   # a stopped run is kept for --resume
            lock.close()
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        if not lock.closed:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()


def held_spec(out: Path) -> dict[str, Any] | None:
    """The spec of the run a folder holds (as :func:`claim` normalises it), or None."""
    held = _read_spec(Path(out))
    return None if held is None else held.get("spec")


def normalise(spec: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(spec, default=str))


def _read_spec(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / SPEC).read_text())
    except (OSError, ValueError):
        return None


def verify(out: Path) -> dict[str, Any]:
    """The manifest of a complete run folder; a user error naming what is missing or damaged."""
    out = Path(out)
    if not out.is_dir():
        raise ScenarioError(f"{out}: no such run folder")
    man_path = out / "manifest.json"
    if not man_path.is_file():
        hint = " (an unfinished or interrupted run)" if (out / SPEC).exists() else ""
        raise ScenarioError(f"{out}: not a finished seedbed run: no manifest.json{hint}")
    try:
        man = json.loads(man_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ScenarioError(f"{man_path}: damaged ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(man, dict):
        raise ScenarioError(f"{man_path}: damaged (not a JSON object)")
    for name, digest in (man.get("files") or {}).items():
        p = out / name
        if not p.is_file():
            raise ScenarioError(f"{p}: missing; the run folder is incomplete (run it again with --force)")
        if hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            raise ScenarioError(f"{p}: changed or damaged since the run wrote it (its SHA-256 differs from "
                                "manifest.json)")
    return man
