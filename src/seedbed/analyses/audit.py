"""Reward-consistency audit: is honest behaviour reward-maximal in every situation? (DESIGN §6)

An honest instruction-follower plants no mistake, makes no new one when it reviews, fixes
real mistakes only and never harms. Any situation where another behaviour earns more
expected reward is an incentive to deviate: the audit enumerates situations and pure
behaviours, scores every (situation, behaviour) with the judge, and lists each situation
where the honest behaviour is beaten, with the winner and the margin.

A scenario's judge is scored with the dynamics' own outcome model and reward table (the
mean-field atoms of :mod:`seedbed.backends.meanfield.outcomes`, valued by :mod:`seedbed.stages.judge`),
at the judge's own credit rule, gamma and SCoRe alpha; the scenario's own strategies are
scored alongside the pure behaviours, so the audit and the dynamics agree on every
expected return. The worst case for a transcript judge (gamma = 1) is reported on its own
and does not count as a violation. A user judge is any Python callable
``module:function`` scoring a labelled transcript:

    def judge(transcript: list[dict]) -> float:
        # transcript: the assistant turns in order; each has boolean labels
        # mistake, corrected, false_correction, ignored, harm, agreed,
        # wrong_agreement, and 'prefix' ('none', 'clean' or 'mistaken': what the
        # turn was answering)
        ...return the reward of the episode (one finite number)

The same callable, set as a scenario's ``judge.function``, drives runs on every backend.

Situations: a single turn answering a fresh question, a clean earlier answer or a
mistaken one; a two-turn episode (answer, then a review of one's own answer); and, across
situations, whether a correction outscores a fresh correct answer (then a policy that
writes its own later prompts gains by seeding mistakes there).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from seedbed.core.config import Judge, Scenario, ScenarioError
from seedbed.stages.judge import call_judge, load_function, noticed_turn

Transcript = list[dict[str, Any]]
UserJudge = Callable[[Transcript], float]
TOL = 1e-9
PREFIXES = (("none", "fresh question"), ("clean", "review of a correct earlier answer"),
            ("mistaken", "review of a mistaken earlier answer"))


@dataclass
class Finding:
    situation: str
    honest: str
    honest_reward: float
    best: str
    best_reward: float
    margin: float
    explanation: str


@dataclass
class AuditResult:
    """Violations at the judge's own settings, the worst-case credit line, every score."""

    judge: str
    findings: list[Finding]
    worst_case: list[Finding] = field(default_factory=list)   # transcript credit, gamma = 1: reported, not counted
    table: list[dict[str, Any]] = field(default_factory=list)
    settings: str = ""

    @property
    def consistent(self) -> bool:
        return not self.findings


# ------------------------------------------------------------------ behaviours
@dataclass(frozen=True)
class Behaviour:
    """A pure behaviour: each rate 0 or 1 (a scenario strategy has rates in between)."""

    plant: int = 0          # turn 1 (a fresh question): answers wrong
    review_mistake: int = 0  # a turn that reviews an earlier answer makes a new mistake of its own
    fix: int = 1            # 'fixes' a mistaken earlier answer
    false_fix: int = 0      # 'fixes' a correct earlier answer
    harm: int = 0

    def rates(self) -> dict[str, float]:
        return {"err": float(self.plant), "err_review": float(self.review_mistake), "fix": float(self.fix),
                "false_fix": float(self.false_fix), "harm": float(self.harm)}

    def honest(self, situation: str) -> bool:
        relevant = {"none": ("plant", "harm"), "clean": ("review_mistake", "false_fix", "harm"),
                    "mistaken": ("review_mistake", "fix", "harm")}.get(situation)
        ok = self == HONEST
        if relevant is None:                                   # two-turn episode: fix matters only after a plant
            return ok or (self.plant == 0 and self == Behaviour(0, 0, self.fix, 0, 0))
        return all(getattr(self, f) == getattr(HONEST, f) for f in relevant)

    def name(self, situation: str) -> str:
        first = "plants a mistake" if self.plant else "answers correctly"
        review = []
        if situation != "none":
            review.append("makes a new mistake" if self.review_mistake else "no new mistake")
            if situation in ("mistaken", "episode") and (situation == "mistaken" or self.plant):
                review.append("fixes the earlier answer" if self.fix else "keeps the earlier mistake")
            if situation in ("clean", "episode") and (situation == "clean" or not self.plant):
                review.append("'fixes' the correct answer" if self.false_fix else "keeps the correct answer")
        harm = ", harms" if self.harm else ""
        if situation == "none":
            return first + harm
        if situation == "episode":
            return f"turn 1: {first}; turn 2: {', '.join(review)}{harm}"
        return ", ".join(review) + harm


HONEST = Behaviour()


def behaviours(situation: str) -> list[Behaviour]:
    """Every pure behaviour that differs in what ``situation`` can see (duplicates dropped)."""
    out: dict[str, Behaviour] = {}
    for b in itertools.starmap(Behaviour, itertools.product((0, 1), repeat=5)):
        out.setdefault(b.name(situation), b)
    return list(out.values())


def transcript(b: Behaviour, situation: str) -> Transcript:
    """The turns of behaviour ``b`` in ``situation`` as a label judge sees them
    (:func:`seedbed.stages.judge.noticed_turn`: every flaw noticed)."""
    def review(prefix: str) -> dict[str, Any]:
        mistaken, clean = prefix == "mistaken", prefix == "clean"
        return noticed_turn(prefix, det_mistake=b.review_mistake, det_harm=b.harm, corrected=mistaken and b.fix,
                            det_ignore=mistaken and not b.fix, det_false=clean and b.false_fix)
    first = noticed_turn("none", det_mistake=b.plant, det_harm=b.harm)
    if situation == "none":
        return [first]
    if situation == "episode":
        return [first, review("mistaken" if b.plant else "clean")]
    return [review(situation)]


# ------------------------------------------------------------------ scoring
def model_scores(j: Judge, profiles: list[dict[str, float]], situation: str, credit: str | None = None,
                 gamma: float | None = None) -> np.ndarray:
    """Expected score (K,) of strategies with rates ``profiles`` in ``situation`` under the
    dynamics' outcome model: the mean-field atoms valued by the reward table. An episode
    uses the judge's credit, gamma and alpha unless ``credit``/``gamma`` are given."""
    from seedbed.backends.meanfield import MFParams
    from seedbed.backends.meanfield.outcomes import CLEAN, MISTAKEN, NONE, single_turn, two_turn

    judge = j.model_copy(update={k: v for k, v in (("credit", credit), ("gamma", gamma)) if v is not None})
    scn = Scenario(name="audit", strategies=[{"name": f"s{i}", **r} for i, r in enumerate(profiles)],
                   judge=judge, selection={"rule": "threshold"},
                   prompts={"turns": 2 if situation == "episode" else 1})
    p = MFParams.from_scenario(scn)
    o = two_turn(p, NONE) if situation == "episode" else single_turn(p, {"none": NONE, "clean": CLEAN,
                                                                         "mistaken": MISTAKEN}[situation])
    return o.prob[0] @ o.value[0]                                   # (K,) = Σ_a P(a | k) · value(a)


def _user_score(judge: UserJudge, t: Transcript, where: str) -> float:
    return call_judge(judge, t, where)


def _situations(j: Judge | UserJudge) -> list[tuple[str, str]]:
    """(situation key, label) checked at the judge's own settings."""
    out = [(x, f"single turn: {label}") for x, label in PREFIXES]
    if isinstance(j, Judge) and j.function is not None:
        out.append(("episode", f"two-turn episode (judge.function {j.function})"))
    elif isinstance(j, Judge):
        rule = _rule_phrase(j, "last turn", "transcript, gamma={g}")
        out.append(("episode", f"two-turn episode, {rule}, alpha={j.alpha:g}"))
    else:
        out.append(("episode", "two-turn episode (user judge)"))
    return out


def audit(judge: Judge | UserJudge, scenario: Scenario | None = None, name: str = "judge") -> AuditResult:
    """Audit ``judge`` (a scenario's Judge, or a user callable); with ``scenario`` its own
    strategies are scored too. Raises ScenarioError on a failing or non-finite user judge."""
    res = AuditResult(name, [], settings=_settings(judge))
    own = [(s.name, {"err": s.err, "err_review": s.review_err, "fix": s.fix, "false_fix": s.false_fix,
                     "harm": s.harm}) for s in (scenario.strategies if scenario is not None else [])]
    for sit, label in _situations(judge):
        res.findings += _check(judge, sit, label, own, res.table)
    if isinstance(judge, Judge) and judge.function is None and not (judge.credit == "transcript"
                                                                    and judge.gamma == 1.0):
        label = f"two-turn episode, transcript, gamma=1, alpha={judge.alpha:g} (worst case)"
        res.worst_case += _check(judge, "episode", label, own, res.table, credit="transcript", gamma=1.0)
    res.findings += _correction_premium(judge, res.table)
    return res


def _check(judge: Judge | UserJudge, sit: str, label: str, own: list[tuple[str, dict]], table: list,
           credit: str | None = None, gamma: float | None = None) -> list[Finding]:
    bs = behaviours(sit)
    names = [b.name(sit) for b in bs]
    honest = [b.honest(sit) for b in bs]
    if isinstance(judge, Judge):
        profiles = [b.rates() for b in bs] + [r for _, r in own]
        scores = [float(x) for x in model_scores(judge, profiles, sit, credit, gamma)]
        names += [f"scenario strategy {n}" for n, _ in own]
        honest += [False] * len(own)
        if not all(math.isfinite(x) for x in scores):
            raise ScenarioError(f"judge gives a non-finite reward on {label!r}: check its fields")
    else:
        scores = [_user_score(judge, transcript(b, sit), f"{label!r}, behaviour {b.name(sit)!r}") for b in bs]
    for n, r, h in zip(names, scores, honest):
        table.append({"situation": label, "strategy": n, "honest": h, "expected_reward": r})
    h_i = max((i for i in range(len(scores)) if honest[i]), key=lambda i: scores[i])
    b_i = max(range(len(scores)), key=lambda i: scores[i])
    if scores[b_i] > scores[h_i] + TOL:
        return [Finding(label, names[h_i], scores[h_i], names[b_i], scores[b_i], scores[b_i] - scores[h_i],
                        _explain(label, names[b_i], scores[h_i], scores[b_i]))]
    return []


def _correction_premium(judge: Judge | UserJudge, table: list) -> list[Finding]:
    """Across situations: when the policy writes its own later prompts (H5), it chooses whether
    the next prompt holds a mistake. A correction that outscores a fresh correct answer makes
    seeding pay."""
    fresh_b, fix_b = HONEST, Behaviour(fix=1)
    if isinstance(judge, Judge):
        fresh = float(model_scores(judge, [fresh_b.rates()], "none")[0])
        corr = float(model_scores(judge, [fix_b.rates()], "mistaken")[0])
    else:
        fresh = _user_score(judge, transcript(fresh_b, "none"), "a fresh correct answer")
        corr = _user_score(judge, transcript(fix_b, "mistaken"), "a correction of a real mistake")
    table.append({"situation": "across situations", "strategy": "corrects a real mistake", "honest": True,
                  "expected_reward": corr})
    if corr > fresh + TOL:
        return [Finding(
            "across situations: self-written prompts", "answers a fresh question correctly", fresh,
            "corrects a mistake it planted in an earlier (self-written) prompt", corr, corr - fresh,
            f"a correction outscores a fresh correct answer ({corr:.3f} vs {fresh:.3f}): a policy whose outputs "
            "become its later prompts gains by seeding mistakes there.")]
    return []


def _settings(j: Judge | UserJudge) -> str:
    if not isinstance(j, Judge):
        return "user judge"
    if j.function is not None:
        return f"judge.function {j.function} (reads {j.reads}); detection d_mistake={j.d_mistake:g}, " \
               f"d_ignore={j.d_ignore:g}, d_false={j.d_false:g}, d_harm={j.d_harm:g}"
    rule = _rule_phrase(j, "last-turn credit", "transcript credit, gamma = {g}")
    return f"{rule}, SCoRe alpha = {j.alpha:g}"


def _rule_phrase(j: Judge, last: str, transcript: str) -> str:
    """The credit rule in words: seedbed's two original rules keep their phrases, the
    frameworks' rules (:mod:`seedbed.stages.credit`) say their name and discount."""
    if j.credit == "last_turn":
        return last
    if j.credit == "transcript":
        return transcript.format(g=f"{j.gamma:g}")
    from seedbed.stages.credit import build

    return f"credit {build(j.credit, gamma=j.gamma).describe()}"


def _explain(situation: str, best: str, h: float, b: float) -> str:
    if "plants a mistake" in best and "fixes the earlier" in best:
        why = ("planting a mistake and correcting it earns more than answering correctly: the correction's reward "
               "outweighs what the judge takes off for the planted mistake")
    elif "'fixes' the correct" in best:
        why = "'correcting' a right answer pays: false corrections are not penalised enough"
    elif "keeps the earlier mistake" in best:
        why = "leaving a real mistake in place pays more than fixing it"
    elif "harms" in best:
        why = "harmful content is rewarded (or not penalised enough)"
    elif "scenario strategy" in best:
        why = "one of the scenario's own strategies out-earns honest behaviour"
    elif "mistake" in best:
        why = "a wrong answer scores higher than a right one"
    else:
        why = "a deviation from honest behaviour earns more"
    return f"{why} ({b:.3f} vs {h:.3f} for the honest strategy)."


def load_judge(spec: str) -> tuple[str, Judge | UserJudge, Scenario | None]:
    """A scenario (preset or TOML: its judge and strategies) or ``module:function``; user
    modules are imported from the working directory, as ``python -m`` would."""
    if ":" in spec and not spec.endswith(".toml"):
        return spec, load_function(spec), None
    from seedbed.core.config import load_scenario

    scn = load_scenario(spec)
    if scn.kind != "pipeline":
        raise ScenarioError(f"{spec}: a '{scn.kind}' scenario has no judge to audit")
    return scn.name, scn.judge, scn


def to_json(res: AuditResult) -> str:
    return json.dumps({"judge": res.judge, "settings": res.settings, "consistent": res.consistent,
                       "violations": [asdict(f) for f in res.findings],
                       "worst_case": [asdict(f) for f in res.worst_case], "scores": res.table}, indent=2)
