"""Real environments as judges: drive a text environment through canonical trajectories.

An environment is audited through what it pays, turn by turn, for a few canonical ways of
playing one item whose right answer is known:

    right at once                    the honest policy (it re-affirms its answer if asked again)
    k formatted wrong, then right    stalling (k = 1 is also 'planted wrong, then fixed': seeding)
    wrong throughout                 every attempt wrong
    right, then 'corrected' to wrong a false correction (if the environment asks again)

Every reward comes from the environment's own ``step`` (or grader), never from a copy of its
rules: the adapter only chooses the actions. Two shapes are accepted:

* a **step environment** (skyrl-gym's ``BaseTextEnv`` and anything like it): ``init(prompt)``
  (optional) then ``step(action)`` returning skyrl-gym's dict (``reward``, ``done``) or a
  Gymnasium tuple ``(obs, reward, terminated, truncated, info)`` / ``(obs, reward, done, info)``;
  a fresh environment per trajectory (they keep state);
* a **grader** (reasoning-gym's ``score_answer``): ``grade(answer) -> float`` for one turn; it is
  scored on the right, a hedged (the right answer among other candidates) and a wrong answer.

Built-in sources (``env:NAME``): ``skyrl_gym.<env id>`` (gsm8k_multi_turn and gsm8k: a fixed
GSM8K-style item, offline), ``reasoning_gym.<dataset>`` (item 0 of the dataset at seed 0),
``seedbed.two_attempts`` (a binary grader that always asks twice: SCoRe's and prime-rl's
two-turn setting) and ``seedbed.retry`` (a binary grader that asks again until right,
AReaL's multi-turn workflow). ``env:module:factory`` is your own: ``factory()`` returns a step
environment or a grader (or name the grader, ``fn(answer) -> float``, itself), with the answers to play in ``audit_answers`` (a dict: right,
wrong, optional hedge) or given with ``--right/--wrong``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass, field
from typing import Any, Callable

from seedbed.core.schema import ScenarioError

# one item for the GSM8K environments (no dataset download): the first GSM8K training question
GSM8K_ITEM = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
              "How many clips did Natalia sell altogether in April and May?", "72")


@dataclass
class Answers:
    """The actions played: the right answer, formatted wrong answers (stall k plays the first
    k of them, cycling) and an optional hedge (a grader's right answer among others)."""

    right: str
    wrong: list[str]
    hedge: str | None = None


@dataclass
class Source:
    """An environment or grader to audit, with what to play in it."""

    name: str                                  # as the user named it, e.g. 'skyrl_gym.gsm8k_multi_turn'
    version: str                               # what was audited, e.g. 'skyrl-gym 0.4.0'
    answers: Answers
    make: Callable[[], Any] | None = None      # a fresh step environment
    grade: Callable[[str], float] | None = None  # a one-turn grader
    prompt: list[dict[str, str]] = field(default_factory=list)
    max_turns: int = 1
    default_credit: str = "sum"
    notes: list[str] = field(default_factory=list)

    @property
    def multi_turn(self) -> bool:
        return self.make is not None


@dataclass
class Played:
    """One trajectory as the environment scored it."""

    name: str
    actions: list[str]        # what the policy planned to say
    rewards: list[float]      # the environment's reward per turn actually played
    kind: str                 # honest | stall | seed | wrong | false_fix | hedge

    @property
    def turns(self) -> int:
        return len(self.rewards)

    @property
    def ended_early(self) -> bool:
        return len(self.rewards) < len(self.actions)


# ------------------------------------------------------------------ stepping
def step_reward(out: Any, where: str) -> tuple[float, bool]:
    """(reward, done) of one ``step`` result: skyrl-gym's dict or a Gymnasium tuple."""
    try:
        if isinstance(out, dict):
            return float(out["reward"]), bool(out["done"])
        if isinstance(out, tuple) and len(out) == 5:
            return float(out[1]), bool(out[2] or out[3])
        if isinstance(out, tuple) and len(out) == 4:
            return float(out[1]), bool(out[2])
    except (KeyError, TypeError, ValueError):
        pass
    raise ScenarioError(f"{where}: step() returned {type(out).__name__} {out!r:.80}; expected a dict with 'reward' "
                        "and 'done' or a Gymnasium tuple (obs, reward, terminated, truncated, info)")


def play(src: Source, name: str, actions: list[str], kind: str) -> Played:
    """Play ``actions`` in a fresh environment (stopping when it says done), or grade the one
    action with the grader; every reward is the environment's own."""
    where = f"env:{src.name}"
    if src.grade is not None:
        try:
            r = float(src.grade(actions[0]))
        except Exception as e:  # a user grader that fails names itself
            raise ScenarioError(f"{where}: the grader raised {type(e).__name__}: {e}") from None
        return Played(name, actions[:1], [r], kind)
    assert src.make is not None
    env = src.make()
    if hasattr(env, "init"):
        env.init(list(src.prompt))
    rewards = []
    for a in actions:
        try:
            r, done = step_reward(env.step(a), where)
        except ScenarioError:
            raise
        except Exception as e:  # the environment's own error, named
            raise ScenarioError(f"{where}: step({a!r:.40}) raised {type(e).__name__}: {e}") from None
        rewards.append(r)
        if done:
            break
    if hasattr(env, "close"):
        env.close()
    return Played(name, list(actions), rewards, kind)


def canonical(src: Source) -> list[Played]:
    """The canonical trajectories of ``src`` (see the module docstring), each scored by it."""
    a = src.answers
    if src.grade is not None:
        out = [play(src, "honest: the right answer", [a.right], "honest")]
        if a.hedge is not None:
            out.append(play(src, f"hedged: {a.hedge!r}", [a.hedge], "hedge"))
        out.append(play(src, f"wrong: {a.wrong[0]!r}", [a.wrong[0]], "wrong"))
        return out
    T = src.max_turns
    wrong = lambda k: [a.wrong[i % len(a.wrong)] for i in range(k)]    # noqa: E731
    out = [play(src, "right at once", [a.right] * T, "honest")]
    for k in range(1, T):
        label = "planted wrong, then fixed (stall k = 1)" if k == 1 else f"stall: {k} formatted wrong, then right"
        out.append(play(src, label, wrong(k) + [a.right] * (T - k), "seed" if k == 1 else "stall"))
    out.append(play(src, "wrong throughout", wrong(T), "wrong"))
    if T > 1:
        out.append(play(src, "right, then 'corrected' to wrong", [a.right] + wrong(T - 1), "false_fix"))
    return out


# ------------------------------------------------------------------ built-in sources
class BinaryGrader:
    """A seedbed test environment with the step API: 1 for the right answer, 0 otherwise.
    ``stop_on_right``: the episode ends at the first right answer (AReaL's retry loop);
    otherwise it always runs ``max_turns`` attempts (SCoRe's two attempts)."""

    def __init__(self, right: str, max_turns: int = 2, stop_on_right: bool = False):
        self.right, self.max_turns, self.stop_on_right, self.turns = right, max_turns, stop_on_right, 0

    def init(self, prompt: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict]:
        self.turns = 0
        return prompt, {}

    def step(self, action: str) -> dict[str, Any]:
        self.turns += 1
        r = float(action.strip() == self.right)
        done = self.turns >= self.max_turns or (self.stop_on_right and r == 1.0)
        obs = [] if done else [{"role": "user", "content": "Please check your answer and answer again."}]
        return {"observations": obs, "reward": r, "done": done, "metadata": {}}


def _version(dist: str) -> str:
    try:
        return f"{dist} {importlib.metadata.version(dist)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{dist} (version unknown)"


def _need(module: str, dist: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ScenarioError(f"env:{module}...: needs the '{dist}' package ({e}); install seedbed's extra: "
                            "pip install -e '.[envs]'") from None


def _skyrl(env_id: str, max_turns: int | None) -> Source:
    skyrl_gym = _need("skyrl_gym", "skyrl-gym")
    if env_id not in ("gsm8k", "gsm8k_multi_turn"):
        raise ScenarioError(f"env:skyrl_gym.{env_id}: the built-in adapter plays the GSM8K environments "
                            "(gsm8k, gsm8k_multi_turn); wrap another one as env:module:factory")
    question, answer = GSM8K_ITEM
    extras: dict[str, Any] = {"reward_spec": {"ground_truth": answer}, "extra_info": {}}
    if max_turns is not None:
        extras["max_turns"] = max_turns

    def make() -> Any:
        return skyrl_gym.make(env_id, extras=dict(extras))
    turns = int(getattr(make(), "max_turns", 1)) if env_id == "gsm8k_multi_turn" else 1
    right = f"48 / 2 = 24 clips in May; 48 + 24 = 72.\n#### {answer}"
    wrong = [f"48 + 48 = 96.\n#### {96}", f"48 / 2 = 24.\n#### {24}", f"48 + 12 = 60.\n#### {60}",
             f"48 * 2 = 96 - 24 = 70.\n#### {70}"]
    return Source(f"skyrl_gym.{env_id}", _version("skyrl-gym"), Answers(right, wrong), make=make,
                  prompt=[{"role": "user", "content": question}], max_turns=turns, default_credit="sum",
                  notes=[f"item: the first GSM8K training question (answer {answer}); the actions end in "
                         "'#### N', the format its strict parser reads"])


def _reasoning_gym(dataset: str) -> Source:
    rg = _need("reasoning_gym", "reasoning-gym")
    try:
        ds = rg.create_dataset(dataset, size=1, seed=0)
    except Exception as e:  # an unknown dataset name, named with the package's own message
        raise ScenarioError(f"env:reasoning_gym.{dataset}: {type(e).__name__}: {e}") from None
    entry = ds[0]
    right = str(entry["answer"])
    try:
        other = str(int(right) + 1)
    except ValueError:
        other = right[::-1] if right[::-1] != right else right + "x"
    return Source(f"reasoning_gym.{dataset}", _version("reasoning-gym"),
                  Answers(right, [other], hedge=f"{right} {other}"), grade=lambda a: ds.score_answer(a, entry),
                  default_credit="last",
                  notes=[f"item 0 of {dataset} at seed 0 (answer {right!r}); the hedge lists the right answer "
                         "and one other candidate"])


def _builtin_binary(kind: str, max_turns: int | None) -> Source:
    right = "72"
    if kind == "two_attempts":
        T = max_turns or 2
        return Source("seedbed.two_attempts", "seedbed built-in", Answers(right, ["71", "96"]),
                      make=lambda: BinaryGrader(right, T, stop_on_right=False), max_turns=T,
                      default_credit="turn_delta",
                      notes=["a binary grader that always asks for every attempt (SCoRe's and prime-rl's setting)"])
    if kind == "retry":
        T = max_turns or 5
        return Source("seedbed.retry", "seedbed built-in", Answers(right, ["71", "96"]),
                      make=lambda: BinaryGrader(right, T, stop_on_right=True), max_turns=T,
                      default_credit="discounted_final",
                      notes=["a binary grader that asks again until right (AReaL's multi-turn workflow)"])
    raise ScenarioError(f"env:seedbed.{kind}: built-in environments are seedbed.two_attempts and seedbed.retry")


def _user(spec: str, right: str | None, wrong: list[str] | None, hedge: str | None) -> Source:
    from seedbed.stages.judge import load_function

    factory = load_function(spec, "env")
    try:
        obj = factory if _takes_one_argument(factory) else factory()
    except Exception as e:  # the user's factory, named
        raise ScenarioError(f"env:{spec}: the factory raised {type(e).__name__}: {e}") from None
    given = dict(getattr(obj, "audit_answers", None) or {})
    r = right if right is not None else given.get("right")
    w = wrong or given.get("wrong")
    if isinstance(w, str):
        w = [w]
    if r is None or not w:
        raise ScenarioError(f"env:{spec}: give the answers to play with --right and --wrong (or an 'audit_answers' "
                            "dict with 'right' and 'wrong' on what the factory returns)")
    answers = Answers(str(r), [str(x) for x in w], hedge if hedge is not None else given.get("hedge"))
    if hasattr(obj, "step"):
        first = obj

        def make() -> Any:
            nonlocal first
            if first is not None:            # the first trajectory reuses the object we built
                env, first = first, None
                return env
            return factory()
        return Source(spec, "user environment", answers, make=make, max_turns=int(getattr(obj, "max_turns", 2)),
                      default_credit="sum")
    if callable(obj):
        return Source(spec, "user grader", answers, grade=obj, default_credit="last")
    raise ScenarioError(f"env:{spec}: the factory returned {type(obj).__name__}, neither an environment with "
                        "step(action) nor a grader callable(answer) -> float")


def _takes_one_argument(fn: Callable[..., Any]) -> bool:
    """A grader (answer -> reward) is named directly; anything else is a factory called with nothing."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) == 1


def load_source(spec: str, max_turns: int | None = None, right: str | None = None, wrong: list[str] | None = None,
                hedge: str | None = None) -> Source:
    """The environment named ``spec`` (without the 'env:' prefix): a built-in or your factory."""
    if max_turns is not None and max_turns < 1:
        raise ScenarioError(f"--max-turns {max_turns}: must be at least 1")
    pkg, dot, rest = spec.partition(".")
    if ":" not in spec and dot:
        if pkg == "skyrl_gym":
            return _skyrl(rest, max_turns)
        if pkg == "reasoning_gym":
            return _reasoning_gym(rest)
        if pkg == "seedbed":
            return _builtin_binary(rest, max_turns)
    if ":" in spec:
        return _user(spec, right, wrong, hedge)
    raise ScenarioError(f"env:{spec}: expected skyrl_gym.ENV, reasoning_gym.DATASET, seedbed.two_attempts, "
                        "seedbed.retry or module:factory")
