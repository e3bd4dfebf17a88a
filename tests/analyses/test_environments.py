"""Environment audits: the real skyrl-gym and reasoning-gym packages offline, the break-even
fix rate's closed form against exact enumeration, a user environment defined here, the CLI."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from seedbed.analyses.breakeven import Model, closed_form_q_star, has_closed_form, margins
from seedbed.analyses.environments import canonical, load_source, play, step_reward
from seedbed.cli import app
from seedbed.core.schema import ScenarioError
from seedbed.stages.credit import build

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["audit", *args], env={"COLUMNS": "200", "TERM": "dumb"})


# ------------------------------------------------------------------ skyrl-gym, the installed package
@pytest.mark.parametrize("max_turns", [None, 3, 8])
def test_skyrl_stalling_pays_0_2_k_over_max_turns_under_sum(max_turns):
    pytest.importorskip("skyrl_gym")
    src = load_source("skyrl_gym.gsm8k_multi_turn", max_turns=max_turns)
    T = max_turns or 5                                       # the environment's default
    assert src.max_turns == T and src.version.startswith("skyrl-gym ")
    plays = {t.name: t for t in canonical(src)}
    rule = build("sum")
    assert plays["right at once"].rewards == [1.0]          # a right answer ends the episode
    for k in range(1, T):
        t = next(p for p in plays.values() if p.kind in ("seed", "stall") and p.turns == k + 1)
        assert t.rewards[:k] == [pytest.approx(0.2 / T)] * k and t.rewards[-1] == 1.0
        assert rule.value(t.rewards) == pytest.approx(1 + 0.2 * k / T)
    m = margins(Model(src, rule), list(plays.values()))
    assert m.beats_honest and m.stalling_margin == pytest.approx(0.2 * (T - 1) / T)


def test_skyrl_margin_is_zero_under_last_turn_credit():
    pytest.importorskip("skyrl_gym")
    src = load_source("skyrl_gym.gsm8k_multi_turn")
    m = margins(Model(src, build("last")), canonical(src))
    assert m.margin == pytest.approx(0.0, abs=1e-12) and not m.beats_honest
    assert m.stalling_margin == pytest.approx(0.0, abs=1e-12)


def test_skyrl_unformatted_answers_earn_nothing():
    pytest.importorskip("skyrl_gym")
    src = load_source("skyrl_gym.gsm8k_multi_turn")
    assert play(src, "x", ["72", "the answer is 72"], "wrong").rewards == [0.0, 0.0]


# ------------------------------------------------------------------ reasoning-gym's partial credit
def test_reasoning_gym_pays_a_hedge_its_length_ratio():
    pytest.importorskip("reasoning_gym")
    src = load_source("reasoning_gym.basic_arithmetic")
    plays = {t.kind: t for t in canonical(src)}
    right, hedge = src.answers.right, src.answers.hedge
    assert plays["honest"].rewards == [1.0] and plays["wrong"].rewards == [0.0]
    assert plays["hedge"].rewards == [pytest.approx(len(right) / len(hedge))]    # oracle ⊂ answer
    assert 0 < plays["hedge"].rewards[0] < 1
    assert not margins(Model(src, build("last")), list(plays.values())).beats_honest


# ------------------------------------------------------------------ break-even fix rates
GRID = np.linspace(0.0, 1.0, 11)


def test_turn_delta_closed_form_decides_every_grid_point():
    """prime-rl's turn credit, binary grader, two attempts: seeding beats honest play iff
    q > p/2 + (1 − p) f, checked by exact enumeration through the environment."""
    src = load_source("seedbed.two_attempts")
    model = Model(src, build("turn_delta"))
    checked = 0
    for p, f, q in itertools.product(GRID, GRID, GRID):
        formula = p / 2 + (1 - p) * f
        if abs(q - formula) < 1e-9:
            continue                                          # a tie: neither beats the other
        assert (model.seeder(q) > model.honest(p, f)) == (q > formula), (p, f, q)
        checked += 1
    assert checked > 1200


@pytest.mark.parametrize("credit,gamma,alpha", [("last", 1, 0), ("sum", 1, 0), ("discounted", 0.5, 0),
                                                 ("score_shaping", 1, 1), ("score_shaping", 1, 10),
                                                 ("turn_delta", 1, 0), ("discounted_final", 0.9, 0)])
def test_closed_form_q_star_matches_the_numeric_root(credit, gamma, alpha):
    src = load_source("seedbed.two_attempts")
    rule = build(credit, gamma=gamma, alpha=alpha)
    model = Model(src, rule)
    assert has_closed_form(src, canonical(src))
    for p, f in itertools.product((0.0, 0.3, 0.7, 0.95), (0.0, 0.5, 1.0)):
        exact, numeric = closed_form_q_star(rule, p, f), model.q_star(p, f)
        if exact is None:
            assert numeric is None or numeric == pytest.approx(1.0, abs=1e-9), (p, f)
        else:
            assert numeric == pytest.approx(exact, abs=1e-9), (p, f)


def test_areal_retry_discount_never_pays_a_known_answer_withheld():
    src = load_source("seedbed.retry")
    rule = build("discounted_final", gamma=0.9)
    plays = canonical(src)
    assert [t.rewards for t in plays if t.kind == "stall"][0] == [0.0, 0.0, 1.0]
    m = margins(Model(src, rule), plays)
    assert m.margin == pytest.approx(0.9 - 1.0) and not m.beats_honest


# ------------------------------------------------------------------ your own environment
class CountdownEnv:
    """A user's environment with the Gymnasium 5-tuple: 1 for the right answer; a wrong answer
    earns 0.3 (a 'try again' bonus) until the last of three attempts."""

    max_turns = 3
    audit_answers = {"right": "42", "wrong": ["41"]}

    def __init__(self):
        self.t = 0

    def reset(self):
        self.t = 0

    def step(self, action):
        self.t += 1
        right = action.strip() == "42"
        done = right or self.t >= self.max_turns
        return [], (1.0 if right else 0.3), done, False, {}


def make_user_env():
    return CountdownEnv()


def grade_user(answer: str) -> float:
    return 1.0 if answer == "yes" else 0.0


def test_a_user_environment_is_audited_without_touching_the_package():
    r = invoke("env:tests.analyses.test_environments:make_user_env", "--credit", "sum", "--no-outer", "--json")
    assert r.exit_code == 1, r.output                        # 0.3 per stalled turn: stalling pays
    rec = json.loads(r.output)
    rows = {row["trajectory"]: row for row in rec["trajectories"]}
    assert rows["right at once"]["rewards"] == [1.0]
    assert rows["stall: 2 formatted wrong, then right"]["rewards"] == [0.3, 0.3, 1.0]
    assert rec["stalling_margin"] == pytest.approx(0.6) and rec["version"] == "user environment"
    r = invoke("env:tests.analyses.test_environments:make_user_env", "--credit", "last", "--no-outer")
    assert r.exit_code == 0, r.output


def test_a_user_grader_needs_its_answers():
    r = invoke("env:tests.analyses.test_environments:grade_user", "--no-outer")
    assert r.exit_code == 2 and "--right and --wrong" in r.output
    r = invoke("env:tests.analyses.test_environments:grade_user", "--right", "yes", "--wrong", "no",
               "--hedge", "yes or no", "--no-outer", "--json")
    assert r.exit_code == 0, r.output
    assert [row["return"] for row in json.loads(r.output)["trajectories"]] == [1.0, 0.0, 0.0]


def test_step_results_in_every_accepted_shape_and_a_bad_one():
    assert step_reward({"reward": 0.5, "done": True}, "e") == (0.5, True)
    assert step_reward(([], 1, False, True, {}), "e") == (1.0, True)
    assert step_reward(([], 1, False, {}), "e") == (1.0, False)
    with pytest.raises(ScenarioError, match="env:x: step\\(\\) returned float"):
        step_reward(1.0, "env:x")


# ------------------------------------------------------------------ the command
def test_the_command_exits_1_when_stalling_pays_and_0_when_it_does_not():
    pytest.importorskip("skyrl_gym")
    assert invoke("env:skyrl_gym.gsm8k_multi_turn", "--credit", "sum", "--no-outer").exit_code == 1
    r = invoke("env:skyrl_gym.gsm8k_multi_turn", "--credit", "last", "--no-outer")
    assert r.exit_code == 0 and "margin +0" in r.output


@pytest.mark.parametrize("args,message", [
    (["env:seedbed.two_attempts", "--credit", "gae"], "--credit 'gae': unknown credit rule; available: last"),
    (["env:seedbed.two_attempts", "--p", "1.5"], "--p 1.5: a probability"),
    (["env:seedbed.two_attempts", "--gamma", "2"], "--gamma 2: a discount"),
    (["env:nowhere"], "env:nowhere: expected skyrl_gym.ENV"),
    (["env:seedbed.three_attempts"], "built-in environments are seedbed.two_attempts and seedbed.retry"),
    (["env:no_such_module_xyz:make"], "cannot import"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(args, message, tmp_path):
    r = invoke(*args, "--out", str(tmp_path / "o"))
    assert r.exit_code == 2, r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "o").exists()


def test_outer_loop_runs_the_induced_strategies_and_its_files_rerun(tmp_path):
    out = tmp_path / "audit"
    r = invoke("env:seedbed.two_attempts", "--credit", "turn_delta", "--out", str(out), "--rounds", "60", "--json")
    assert r.exit_code == 1, r.output
    rec = json.loads((out / "audit.json").read_text())
    assert rec["q_star"] == pytest.approx(0.9 / 2 + 0.1 * 0.9)          # p = f = q = 0.9 by default
    o = rec["outer"]
    assert o["episodes"]["outcome"] == "selects" and o["episodes"]["S_final"] > 0.9
    assert o["self_written"]["S_final"] < 0.5             # the planted mistake sits in the prompt, unpaid
    assert o["analysis"]["S_invasion_factor"] > 1
    import seedbed

    scn = seedbed.load_scenario(out / "episodes.toml")      # the written scenario stands on its own
    assert scn.judge.function.endswith("env_judge.py:judge")
    res = seedbed.run(scn, backend="meanfield")
    assert res.verdict.outcome == "selects"


def test_a_judge_from_a_file_path(tmp_path, monkeypatch):
    from seedbed.stages.judge import load_function

    (tmp_path / "j.py").write_text("def judge(t):\n    return 0.5 * len(t)\n")
    monkeypatch.chdir(tmp_path)
    assert load_function("j.py:judge")([{}, {}]) == 1.0
    with pytest.raises(ScenarioError, match="'missing.py:judge': cannot import"):
        load_function("missing.py:judge")
