"""Carry a neural run folder between machines without its weights, and check the base it needs.

The 8-round SmolLM2 experiment (docs/smollm2.md, "Eight rounds") needs more CPU time than one
machine session holds, and its run folders live under the ignored ``runs/``. What a resumed run
needs of a finished repetition is its rounds' ``outputs.json`` (measured shares, probe stats,
rates): the runner reads those back and computes nothing. So the carried state is the run folder
without weight files, and without repetitions that had not finished their last round (they are
run again, from their seed). ``seedbed`` refuses to continue a single-policy repetition whose
restored round has no weights, so a state packed wrongly fails loudly, never silently
(population runs, whose members live in ``member-MMM/`` folders, are not handled here).

    python carry.py pack RUN STATE       copy RUN into STATE (replaced), weights left out
    python carry.py unpack STATE RUN     copy STATE into RUN (which must not exist)
    python carry.py base FOLDER FILE     SHA-256 of the adapted base's weights: record it in FILE
                                         the first time, refuse a different base after that
                                         (and refuse to record one beside a state of unknown base)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from seedbed.backends.neural.checkpoints import RoundCheckpoints
from seedbed.backends.neural.model import weights_sha256
from seedbed.results.folders import LOCK, held_spec
from seedbed.results.writing import TEMP_SUFFIX

WEIGHTS = {"model.safetensors", "optimizer.pt"}


def rounds_of(run: Path) -> int:
    """The rounds each repetition of ``run`` runs (from the folder's spec)."""
    return int(held_spec(run)["scenario"]["neural"]["rounds"])


def finished(rep: Path, rounds: int) -> bool:
    """Whether repetition folder ``rep`` finished its last round (its outputs were saved)."""
    return RoundCheckpoints(rep, keep=1).finished(rounds)


def finished_reps(folder: Path, rounds: int) -> set[str]:
    """Names of the repetitions (``<arm>-<seed>``) in ``folder/checkpoints`` that finished every round."""
    cp = folder / "checkpoints"
    return {r.name for r in cp.iterdir() if finished(r, rounds)} if cp.exists() else set()


def pack(run: Path, state: Path) -> None:
    """Copy ``run`` into ``state`` without weights and without unfinished repetitions. Safe while
    the run goes on: the finished repetitions are decided before any file is listed, and a
    finished repetition's files no longer change. Refused if ``state`` holds a finished
    repetition the run lacks (newer work carried from elsewhere would be lost)."""
    rounds = rounds_of(run)
    done = finished_reps(run, rounds)
    lost = finished_reps(state, rounds) - done if state.exists() else set()
    if lost:
        sys.exit(f"{state}: holds {len(lost)} finished repetitions that {run} lacks (e.g. {min(lost)}); "
                 f"unpack it into a new folder and continue that instead")
    tmp = state.with_name(state.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for f in sorted(run.rglob("*")):
        rel = f.relative_to(run)
        if not f.is_file() or f.name in WEIGHTS | {LOCK} or f.name.endswith(TEMP_SUFFIX) or \
                any(p.endswith(".tmp") for p in rel.parts):
            continue
        if rel.parts[0] == "checkpoints" and len(rel.parts) > 2 and rel.parts[1] not in done:
            continue
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, tmp / rel)
    reps = len(list((run / "checkpoints").iterdir())) if (run / "checkpoints").exists() else 0
    shutil.rmtree(state, ignore_errors=True)
    tmp.rename(state)
    print(f"{state}: {len(done)} finished repetitions carried, {reps - len(done)} unfinished left out")


def unpack(state: Path, run: Path) -> None:
    if run.exists():
        sys.exit(f"{run}: exists; unpack only into a new folder")
    shutil.copytree(state, run)
    print(f"{run}: unpacked from {state}")


def base(folder: Path, record: Path) -> None:
    digest = weights_sha256(folder)
    if digest is None:
        sys.exit(f"{folder}: no model.safetensors")
    if not record.exists():
        if (record.parent / "state").exists():
            sys.exit(f"{record}: missing beside a carried state/; the state's base is unknown, so it cannot be "
                     "continued (move state/ away to start the test again from the plan)")
        record.write_text(digest + "\n")
        print(f"{record}: recorded {digest[:16]}…")
    elif record.read_text().strip() != digest:
        sys.exit(f"{folder}: its weights' SHA-256 {digest[:16]}… is not the {record.read_text()[:16]}… the carried "
                 "state was run on; the state cannot be continued on this base")
    else:
        print(f"{folder}: the base the state was run on ({digest[:16]}…)")


if __name__ == "__main__":
    commands = {"pack": pack, "unpack": unpack, "base": base}
    if len(sys.argv) != 4 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))
