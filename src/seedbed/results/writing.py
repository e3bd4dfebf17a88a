"""Self-describing run directories and atomic file writes.

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, so a killed run leaves either the old file or the new one, never half.
The manifest holds no wall-clock time, so the same seed gives byte-identical files;
timings go to ``timing.json``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from seedbed.core.schema import StoppedRun, no_space

TEMP_SUFFIX = ".part"      # an atomic write's temporary: .<name>.<random>.part beside its file

PACKAGES = ("seedbed", "numpy", "pydantic", "pyarrow", "matplotlib", "typer", "rich", "torch", "transformers")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)``, flush it to disk, and move ``tmp`` to ``path`` only if it succeeded.

    The file gets the mode an ordinary ``open`` would give it (0666 less the umask), not
    mkstemp's 0600, and is fsynced before the rename (and the folder after it), so a crash
    leaves the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if no_space(e):
            raise disk_full(path) from None
        raise
    return path


def remove_leftovers(folder: Path) -> None:
    """Delete the temporaries of writes that never finished (a process killed between
    creating ``.<name>.<random>.part`` in :func:`atomic_write` and moving it into place)
    anywhere under ``folder``; only safe while no other process writes there."""
    for p in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        if p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)


def disk_full(path: Path) -> StoppedRun:
    """The one line for a write that found the disk full (nothing half-written is left)."""
    return StoppedRun(f"{Path(path).parent}: no space left on the device while writing {Path(path).name}; nothing "
                      "half-written was kept; free some space and rerun with --resume to continue")


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def write_json(path: Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_table(path: Path, table: pa.Table) -> Path:
    return atomic_write(path, lambda p: pq.write_table(table, p, compression="zstd"))


def read_table(path: Path) -> pa.Table:
    """A Parquet file; a damaged or truncated one is a user error naming the file."""
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        from seedbed.core.schema import ScenarioError
        raise ScenarioError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:120]})") from None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def code_revision() -> str:
    """The git commit of the seedbed source (with '+dirty' for local changes), if any.

    Plumbing only, with optional locks off: a run never takes the user's git index lock."""
    here = Path(__file__).resolve().parent
    git = ["git", "--no-optional-locks"]
    try:
        rev = subprocess.run(git + ["rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(git + ["diff-index", "--quiet", "HEAD", "--"], cwd=here, capture_output=True,
                               timeout=5).returncode == 1
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def file_hashes(out: Path, names: list[str]) -> dict[str, str]:
    """SHA-256 of each named file (relative to ``out``) that exists: a manifest's proof that
    the files it lists are the ones the run wrote."""
    import hashlib
    return {n: hashlib.sha256((Path(out) / n).read_bytes()).hexdigest() for n in names if (Path(out) / n).is_file()}


def write_kind_manifest(out: Path, scn: Any) -> Path:
    """manifest.json of a non-pipeline run (Krueger, grading): scenario, seed, versions, revision,
    and the SHA-256 of every data table already written (so it must be written after them)."""
    out = Path(out)
    return write_json(out / "manifest.json", {
        "seedbed_run": 1, "kind": scn.kind, "scenario": scn.model_dump(mode="json"), "root_seed": scn.seed,
        "source": scn.origin.source, "overrides": scn.origin.overrides,
        "versions": package_versions(), "code_revision": code_revision(),
        "files": file_hashes(out, sorted(p.name for p in out.glob("*.parquet")))})


def origin_line(source: str | None, overrides: dict[str, Any] | None) -> str:
    """The sentence every report carries on where its scenario came from and the overrides
    (``--set``) it was given; ``overrides`` None: a folder written before they were recorded."""
    where = f"Scenario: `{source or 'unknown'}`"
    if overrides is None:
        return where + "; its overrides were not recorded (a folder from an older seedbed)."
    if not overrides:
        return where + ", as shipped (no overrides)."
    return where + "; overrides: " + ", ".join(f"`{k}={json.dumps(v, default=str)}`" for k, v in overrides.items()) + "."


def report_header(scn: Any) -> list[str]:
    """Title, the 'shows' line and the description: the opening lines of every report.md."""
    lines = [f"# seedbed report: {scn.name}", ""]
    if scn.shows:
        lines += [f"*{scn.shows.strip()}*", ""]
    if scn.description:
        lines += [scn.description.strip(), ""]
    return lines
