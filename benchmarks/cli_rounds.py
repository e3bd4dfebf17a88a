"""Wall and CPU time of a long mean-field run through the CLI (target: 20,000 rounds < 30 s).

    python benchmarks/cli_rounds.py [--rounds 20000] [--repeats 3]

Runs `seedbed run seed --set rounds=N` in a fresh folder, as a user would (live table,
conditions scan, start-dependence analysis, report and plots included), and reports the
median wall time and the median CPU time of the child process (user + system), which is
what the machine's other load cannot inflate. Writes benchmarks/results/cli_rounds.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def once(rounds: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "seedbed.cli", "run", "seed", "--set", f"rounds={rounds}",
                        "--out", str(Path(tmp) / "run")], check=True, capture_output=True,
                       env={**os.environ, "MPLCONFIGDIR": str(Path(tmp) / ".mpl")})
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    runs = [once(args.rounds) for _ in range(args.repeats)]
    wall = statistics.median(w for w, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    load = os.getloadavg()[0]
    print(f"seedbed run seed, {args.rounds} rounds: wall {wall:.1f} s, CPU {cpu:.1f} s (median of {args.repeats}; "
          f"load average {load:.1f}); target < 30 s")
    out = HERE / "results" / "cli_rounds.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rounds": args.rounds, "repeats": args.repeats, "wall_s": wall, "cpu_s": cpu,
                               "load_average": load, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
