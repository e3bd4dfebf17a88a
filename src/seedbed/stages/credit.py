"""Credit rules: how the per-turn rewards of a multi-turn episode become the one return that
selection ranks (and a GRPO-style trainer normalises within its group).

Each rule is transcribed from a framework's published code (the docstrings name the file and
version read; the facts are quoted, not the code). Every rule takes SCoRe's shaping ``alpha``
first — the last turn's reward becomes r_T + alpha·(r_T − r_1), a bonus for improving on the
first attempt (alpha = 0 leaves the rewards alone) — and then aggregates:

    last              r_T                                  verl (reward of the last response), TRL
    sum               Σ_t r_t                              SkyRL GRPO, OpenRLHF agent, NeMo-RL rollouts
    discounted        Σ_t gamma^(t−1) r_t                  seedbed's transcript credit (T = 2: r1 + gamma·r2)
    discounted_final  gamma^(T−1) · r_T                    AReaL multi-turn workflow (turn_discount)
    turn_delta        r_T + Σ_t (r_t − r_(t−1)) = 2 r_T − r_1   prime-rl turn_credit
    score_shaping     Σ_t r_t with the shaped last turn    SCoRe stage II (T = 2: r1 + r2 + alpha (r2 − r1))

Axes: ``rewards`` is a sequence of T per-turn rewards (turn 1 first), each a scalar or an
array (the mean-field backend passes (G, A) grids of atom values); every rule is elementwise,
so a batch of episodes with the same length is scored in one call. Each rule is linear in the
rewards and returns 0 on an all-zero episode, which the audit's closed forms use.

``judge.credit`` names one of them ('last_turn' and 'transcript' are the older names for
'last' and 'discounted'); :func:`for_judge` builds the rule of a judge section, and
:func:`seedbed.stages.judge.episode_return` is its two-turn case on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from seedbed.core.registry import CREDIT

ALIASES = {"last_turn": "last", "transcript": "discounted"}


@dataclass(frozen=True)
class CreditRule:
    """One credit rule with its parameters. ``gamma`` is the per-turn discount of
    'discounted' and 'discounted_final' (ignored by the others); ``alpha`` is SCoRe's shaping
    of the last turn, applied before any rule aggregates."""

    gamma: float | Any = 1.0
    alpha: float | Any = 0.0
    name: str = ""
    # a trainer that uses this rule fine-tunes on the last assistant turn only (the neural backend)
    last_only: bool = False

    def shaped(self, rewards: Sequence[Any]) -> list[Any]:
        """SCoRe's shaping: r_T ← r_T + alpha·(r_T − r_1); a one-turn episode is unchanged."""
        r = list(rewards)
        if not r:
            raise ValueError("an episode needs at least one turn's reward")
        if len(r) > 1:
            r[-1] = r[-1] + self.alpha * (r[-1] - r[0])
        return r

    def value(self, rewards: Sequence[Any]) -> Any:
        """The episode's return (what selection ranks)."""
        return self.aggregate(self.shaped(rewards))

    def aggregate(self, r: list[Any]) -> Any:  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    def describe(self) -> str:
        """The rule and its parameters in one short phrase (for tables)."""
        extra = f", gamma = {self.gamma:g}" if self.name in ("discounted", "discounted_final") else ""
        if self.alpha:
            extra += f", alpha = {self.alpha:g}"
        return f"{self.name}{extra}"


@CREDIT.register("last")
@dataclass(frozen=True)
class Last(CreditRule):
    """The last turn's reward only: verl's default reward is computed on the last response and
    TRL's GRPOTrainer takes one scalar per completion (both as stated in seedbed's audit issue,
    not re-read here). A judge that sees only the final message gives the same credit."""

    name: str = "last"
    last_only: bool = True

    def aggregate(self, r):
        return r[-1]


@CREDIT.register("sum")
@dataclass(frozen=True)
class Sum(CreditRule):
    """Per-turn rewards summed, undiscounted. OpenRLHF's ``MultiTurnAgentExecutor``
    (``openrlhf/utils/agent.py``, read at commit 04655bc) adds every step's reward to
    ``total_reward``, the episode's reward; SkyRL's GRPO over skyrl-gym 0.4.0's turn-level
    rewards and NeMo-RL's multi-turn rollouts (``nemo_rl/experience/rollouts.py``) sum them
    too (as stated in seedbed's audit issue)."""

    name: str = "sum"

    def aggregate(self, r):
        total = r[0]
        for x in r[1:]:
            total = total + x
        return total


@CREDIT.register("discounted")
@dataclass(frozen=True)
class Discounted(CreditRule):
    """Σ_t gamma^(t−1) r_t: the credit reaches the turns before the last, turn t weighted
    gamma^(t−1). With two turns it is seedbed's 'transcript' credit, r1 + gamma·r2."""

    name: str = "discounted"

    def aggregate(self, r):
        total, w = r[0], 1.0
        for x in r[1:]:
            w = w * self.gamma
            total = total + w * x
        return total


@CREDIT.register("discounted_final")
@dataclass(frozen=True)
class DiscountedFinal(CreditRule):
    """AReaL's multi-turn workflow (``areal/workflow/multi_turn.py``, read at commit 072480e):
    the episode runs until the reward is non-zero or max_turns; every retry multiplies a
    discount by ``turn_discount``; the final reward times the discount, r_T·gamma^(T−1), is
    the one reward given to the whole episode (every turn's tokens). Its agent workflows
    default to turn_discount = 0.9. (That commit multiplies by the discount a second time
    when it builds the reward tensor, so it trains on r_T·gamma^(2(T−1)): audit gamma² for
    that exact behaviour.)"""

    name: str = "discounted_final"

    def aggregate(self, r):
        return r[-1] * self.gamma ** (len(r) - 1)


@CREDIT.register("turn_delta")
@dataclass(frozen=True)
class TurnDelta(CreditRule):
    """prime-rl's turn credit (PR #3282, ``src/prime_rl/orchestrator/algo/turn_credit.py``):
    per-turn progress is each scored turn's score minus the previous one, the first scored
    turn gets 0; the group baseline is taken over the return 'final reward + net progress',
    r_T + Σ_t (r_t − r_(t−1)) = 2·r_T − r_1 (its beta-weighted token shift is zero-sum within
    the rollout and leaves the return alone). With a binary grader, wrong-then-fixed returns
    2 and right-then-right 1."""

    name: str = "turn_delta"

    def aggregate(self, r):
        return r[-1] + (r[-1] - r[0])


@CREDIT.register("score_shaping")
@dataclass(frozen=True)
class ScoreShaping(Sum):
    """SCoRe stage II (Kumar et al. 2024, 'Training language models to self-correct via
    reinforcement learning', eq. 4): both attempts' rewards summed, the second shaped,
    r1 + r2 + alpha·(r2 − r1). The paper's alpha is 10."""

    name: str = "score_shaping"


def _alias(name: str, cls: type) -> None:
    CREDIT.add(name, cls)


_alias("last_turn", Last)
_alias("transcript", Discounted)


def build(name: str, gamma: Any = 1.0, alpha: Any = 0.0, source: str = "judge.credit") -> CreditRule:
    """The credit rule called ``name`` with its parameters (a user error naming ``source`` and
    the available rules when there is none)."""
    return CREDIT.get(name, source)(gamma=gamma, alpha=alpha)


def for_judge(j: Any) -> CreditRule:
    """The credit rule of a judge section (anything with ``credit``, ``gamma`` and ``alpha``;
    the mean-field backend passes (G, 1) arrays for gamma and alpha)."""
    return build(j.credit, gamma=j.gamma, alpha=j.alpha)


def canonical(name: str) -> str:
    """The rule's current name ('last_turn' → 'last', 'transcript' → 'discounted')."""
    return ALIASES.get(name, name)
