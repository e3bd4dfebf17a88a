"""Golden run files for every preset on the simulated backends, on tiny settings.

    python tests/golden/generate.py [OUT]        # default: tests/golden/data

Each preset runs through the public API (``seedbed.run``) with few rounds and few
conversations; the files a run writes (metrics, lineage, manifest without the version
fields; for the Krueger and grading kinds their result tables) are stored as text, so a
diff shows what changed. ``tests/test_golden.py`` reruns the same settings and compares.
Regenerate only for an intended change of behaviour, and say which in the commit.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Tiny settings per kind: enough rounds for a PBT exploit step, few samples.
PIPELINE = {"rounds": 6, "agent.conversations": 96, "agent.probes": 64, "population.interval": 2}
KRUEGER = {"krueger.steps": 60, "krueger.trials": 3, "krueger.population": [10], "krueger.interval": [0, 5],
           "krueger.last": 20}
GRADING = {"grading.steps": 80, "grading.learners": 4}
SEEDS = 3
DROP = ("versions", "code_revision", "files")   # files: hashes of Parquet bytes, which depend on pyarrow


def cases() -> list[tuple[str, str]]:
    """(preset, backend) pairs: pipeline presets on both simulated backends, other kinds once."""
    from seedbed.core.config import list_presets, load_scenario

    out = []
    for p in list_presets():
        scn = load_scenario(p)
        if scn.kind != "pipeline":
            out.append((p.stem, "agent"))
        elif not scn.neural.inoculation:          # the inoculation preset is neural-only
            out += [(p.stem, "meanfield"), (p.stem, "agent")]
    return out


def overrides(preset: str) -> dict:
    from seedbed.core.config import load_scenario

    scn = load_scenario(preset)
    if scn.kind == "krueger":
        return KRUEGER
    if scn.kind == "grading":
        return GRADING
    over = dict(PIPELINE)
    if scn.population.interval == 0:
        over.pop("population.interval")
    return over


def run_case(preset: str, backend: str, out: Path) -> dict[str, str]:
    """Run one case into ``out``; return {file name: canonical text} of its data files."""
    import seedbed
    from seedbed.results import writing as rundir
    from seedbed.core.config import load_scenario

    scn = load_scenario(preset, overrides(preset))
    if scn.kind == "pipeline":
        seedbed.run(scn, backend=backend, out=out, seeds=SEEDS, report=False)
    else:
        seedbed.run(scn, out=out)
    files: dict[str, str] = {}
    for f in sorted(out.glob("*.parquet")):
        t = rundir.read_table(f).to_pylist()
        files[f.stem + ".jsonl"] = "".join(json.dumps(r, sort_keys=True) + "\n" for r in t)
    if (out / "lineage.jsonl").exists():
        files["lineage.jsonl"] = (out / "lineage.jsonl").read_text()
    man = json.loads((out / "manifest.json").read_text())
    for k in DROP:
        man.pop(k, None)
    files["manifest.json"] = json.dumps(man, indent=1, sort_keys=True) + "\n"
    return files


def main(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for preset, backend in cases():
            files = run_case(preset, backend, Path(tmp) / f"{preset}-{backend}")
            case = dest / f"{preset}-{backend}"
            shutil.rmtree(case, ignore_errors=True)
            case.mkdir()
            for name, text in files.items():
                (case / name).write_text(text)
            print(f"{preset}-{backend}: {', '.join(sorted(files))}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "data")


def differences(want: dict[str, str], got: dict[str, str], atol: float = 1e-12) -> list[str]:
    """Where two cases' files differ: numbers beyond ``atol``, anything else exactly."""
    out = []
    for name in sorted(set(want) | set(got)):
        if name not in want or name not in got:
            out.append(f"{name}: only in {'the new run' if name in got else 'the golden files'}")
            continue
        a, b = want[name].splitlines(), got[name].splitlines()
        if len(a) != len(b):
            out.append(f"{name}: {len(a)} lines in the golden file, {len(b)} now")
            continue
        if name.endswith(".json"):
            a, b = [want[name]], [got[name]]
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y and not _close(json.loads(x), json.loads(y), atol):
                out.append(f"{name} line {i + 1}: {x[:200]} != {y[:200]}")
                break
    return out


def _close(x, y, atol: float) -> bool:
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_close(x[k], y[k], atol) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_close(a, b, atol) for a, b in zip(x, y))
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
        return abs(x - y) <= atol or (x != x and y != y)
    return x == y


def read_case(case: Path) -> dict[str, str]:
    return {f.name: f.read_text() for f in sorted(case.iterdir())}
