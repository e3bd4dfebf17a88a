"""What an outer loop does with an environment's credit: the induced strategies as a scenario.

The audit's two policies — honest H (right first with probability p, fixes with
probability f) and the seeder S (plants a wrong answer, fixes it with probability q) — become
a two-turn seedbed scenario whose judge is the environment itself: a label judge written to
the run folder (``env_judge.py``) that returns, for each labelled two-turn episode, the return
the environment paid for that right/wrong sequence under the audited credit rule (every value
played in the environment, :func:`seedbed.analyses.environments.play`). The mean-field backend
runs it exactly

* on its own two-turn episodes (fresh questions, phi = 0): the seeder plants at turn 1 and is
  paid by the environment for its fix at turn 2;
* with self-written prompts (phi = 1, rho = 1: each prompt carries an earlier answer written
  by the responder's own persona, which it then reviews): the planted mistake sits in the
  prompt, and the environment pays only for the turns it sees;

each against the same loop with the environment under last-turn credit (``judge_control`` in
the same file, the control that differs only in the credit rule);
* with PBT (8 members on their own episodes, exploit every 4 rounds on mean reward) against
  the same members without the exploit step;

and :func:`seedbed.analyses.dynamics.analyze` finds the fixed points, S's invasion factor and
where it crosses 1 along S's fix rate q (the outer loop's own break-even).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seedbed.analyses.environments import Source, play
from seedbed.stages.credit import build

PATTERNS = {("right", "right"): (True, True), ("right", "wrong"): (True, False),
            ("wrong", "right"): (False, True), ("wrong", "wrong"): (False, False)}

JUDGE_TEMPLATE = '''"""Written by `seedbed audit env:{env}` ({version}): the environment as a label judge.

RETURNS["turn 1,turn 2"] is the return the environment paid for that right/wrong sequence
(each played in it: the per-turn rewards below) under the credit rule {rule}; CONTROL is the
same under last-turn credit. Turn 1 is wrong when it made, kept or introduced a mistake; turn 2
is right when it fixed turn 1's mistake (or kept a right turn 1) and made no new one.
"""

REWARDS = {rewards}
RETURNS = {returns}
CONTROL = {control}


def _key(transcript):
    t1, t2 = transcript[0], transcript[-1]
    first_wrong = bool(t1["mistake"] or t1["ignored"] or t1["false_correction"])
    if first_wrong:
        second_right = bool(t2["corrected"]) and not t2["mistake"]
    else:
        second_right = not (t2["mistake"] or t2["false_correction"])
    return ("wrong" if first_wrong else "right") + "," + ("right" if second_right else "wrong")


def judge(transcript):
    return RETURNS[_key(transcript)]


def judge_control(transcript):
    return CONTROL[_key(transcript)]
'''


@dataclass
class OuterLoop:
    """The outer-loop findings: final seeder shares and verdicts, and the analysis."""

    folder: str
    arms: dict[str, dict[str, Any]]
    analysis: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, **self.arms, "analysis": self.analysis}


def two_turn_returns(src: Source, rule: Any) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per-turn rewards and the return of each two-turn right/wrong sequence, played in ``src``
    (an environment that ends at a right answer plays one turn of 'right, *')."""
    a = src.answers
    rewards, returns = {}, {}
    for (x, y), (r1, r2) in PATTERNS.items():
        actions = [a.right if r1 else a.wrong[0], a.right if r2 else a.wrong[-1]]
        played = play(src, f"{x},{y}", actions, "pattern").rewards
        rewards[f"{x},{y}"] = played
        returns[f"{x},{y}"] = float(rule.value(played))
    return rewards, returns


ARMS = {"episodes": (0.0, 0.0, False), "self_written": (1.0, 1.0, False), "pbt": (0.0, 0.0, True)}


def scenario_toml(src: Source, judge_file: Path, p: float, f: float, q: float, temperature: float,
                  rounds: int, arm: str) -> str:
    """The induced two-turn scenario of one arm (:data:`ARMS`: phi, rho, PBT)."""
    phi, rho, population = ARMS[arm]
    fn = f"{judge_file.as_posix()}:judge"
    pop = ""
    control = f'set = {{ "judge.function" = "{judge_file.as_posix()}:judge_control" }}\n' \
              'label = "the same environment under last-turn credit"'
    if population:
        pop = ("\n[population]\nmembers = 8\ninterval = 4\nfraction = 0.25\ninit_spread = 0.5\n")
        control = 'set = { "population.interval" = 0 }\nlabel = "the same members, no exploit step"'
    return f'''name = "env_{src.name.replace(".", "_").replace(":", "_").replace("/", "_")}_{arm}"
shows = "The strategies induced by {src.name} ({src.version}): honest H against the seeder S, judged by the environment's own returns."
description = """
Written by seedbed audit. H answers right first with probability p = {p:g} and fixes a
wrong answer with probability f = {f:g}; S plants a wrong first answer and fixes it with
probability q = {q:g}. The judge is the environment (env_judge.py): each two-turn episode
returns what the environment paid for it under the audited credit rule.
"""
seed = 0
rounds = {rounds}
focus = "S"

[[strategies]]
name = "H"
err = {1 - p:.12g}
err_review = 0.0
fix = {f:.12g}
false_fix = 0.0
harm = 0.0

[[strategies]]
name = "S"
err = 1.0
err_review = 0.0
fix = {q:.12g}
false_fix = 0.0
harm = 0.0

[judge]
function = "{fn}"
d_mistake = 1.0
d_ignore = 1.0
d_false = 1.0
d_harm = 1.0

[prompts]
turns = 2
phi = {phi:g}
rho = {rho:g}

[selection]
rule = "reward_weighted"
temperature = {temperature:.12g}

[update]
eta = 1.0
{pop}
[control]
{control}
'''


def _summary(res: Any) -> dict[str, Any]:
    v = res.verdict
    return {"outcome": v.outcome, "seeds": v.n_seeds, "S_final": v.scenario_final[0],
            "S_final_control": v.control_final[0], "effect": list(v.effect), "reason": v.reason,
            "folder": str(res.out)}


def run_outer(src: Source, rule: Any, out: Path, p: float, f: float, q: float, run: Callable[..., Any],
              rounds: int = 200, progress: Any = None) -> OuterLoop:
    """Write the judge and the arms' scenarios under ``out``, run each with its control on the
    mean-field backend (``run`` is :func:`seedbed.api.run`: the front end passes it in, so this
    layer runs no scenario kind itself), analyse the own-episodes arm along S's fix rate.
    Returns the findings (also written to outer.json)."""
    from seedbed.analyses.dynamics import analyze, crossings
    from seedbed.core.config import load_scenario

    out.mkdir(parents=True, exist_ok=True)
    rewards, returns = two_turn_returns(src, rule)
    _, control = two_turn_returns(src, build("last"))
    judge_file = (out / "env_judge.py").resolve()
    judge_file.write_text(JUDGE_TEMPLATE.format(env=src.name, version=src.version, rule=rule.describe(),
                                                rewards=json.dumps(rewards), returns=json.dumps(returns),
                                                control=json.dumps(control)), encoding="utf-8")
    spread = max(returns.values()) - min(returns.values())
    temperature = max(spread, 1e-3)                  # exp(return / spread): a tilt of e per unit spread
    found: dict[str, Any] = {}
    for label in ARMS:
        path = out / f"{label}.toml"
        path.write_text(scenario_toml(src, judge_file, p, f, q, temperature, rounds, label), encoding="utf-8")
        scn = load_scenario(path)
        if progress:
            progress(f"outer loop: {label}")
        found[label] = _summary(run(scn, backend="meanfield", out=out / label, force=True, report=False))
    scn = load_scenario(out / "episodes.toml")
    a = analyze(scn, param=("strategies.S.fix", np.linspace(0.0, 1.0, 21)), points=64, starts=4)
    cross = crossings(a.bifurcation.values, a.bifurcation.focus_invasion)
    found["analysis"] = {"S_invasion_factor": a.focus_invasion, "stable": [
        {n: float(v) for n, v in zip(a.names, fp.shares)} for fp in a.fixed_points if fp.stable],
        "invasion_crosses_1_at_fix_rate": cross}
    res = OuterLoop(str(out), {k: found[k] for k in ARMS}, found["analysis"])
    (out / "outer.json").write_text(json.dumps(res.as_dict(), indent=2, default=float) + "\n", encoding="utf-8")
    return res
