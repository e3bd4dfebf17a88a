"""seedbed: does this post-training setup, through an outer loop, select for mistake seeding?

The Python API mirrors the CLI:

    import seedbed
    scn = seedbed.load_scenario("seed", {"prompts.phi": 0.5})
    result = seedbed.run(scn, out="runs/seed")          # scenario + control, report on disk
    print(result.verdict.headline)
    phase = seedbed.sweep(scn, ["judge.bonus=0:2:41", "prompts.phi=0:1:41"], out="runs/sweep")
    fixed = seedbed.analyze(scn)                          # fixed points, stability, invasion, basins
"""

from seedbed.api import RunResult, run
from seedbed.core.config import Scenario, ScenarioError, load_scenario
from seedbed.sweeps import SweepResult, sweep

__all__ = ["analyze", "RunResult", "Scenario", "ScenarioError", "load_scenario", "run", "sweep", "SweepResult"]
__version__ = "0.1.0"


def analyze(scn, *args, **kwargs):
    """Fixed points, stability, invasion and basins of a scenario's mean-field map
    (:func:`seedbed.analyses.dynamics.analyze`; imported on first use: it needs scipy.optimize)."""
    from seedbed.analyses.dynamics import analyze as _analyze
    return _analyze(scn, *args, **kwargs)
