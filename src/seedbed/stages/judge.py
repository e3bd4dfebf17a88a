"""The judge's reward table: one definition that every backend and the audit use.

* :func:`turn_reward` — the reward of one assistant turn from what the judge detected.
  The mean-field model evaluates it on each outcome atom (with judge coefficients as
  arrays over grid points), the agent sampler on its atom table, the neural backend on
  parsed transcripts.
* :func:`expected_turn_reward` — its expectation over what the judge notices, for a turn
  with known ground-truth labels (the audit). The reward is linear in each detection
  indicator, so the expectation puts the detection probabilities in their place.
* :func:`episode_return` — what selection ranks for a two-turn episode: SCoRe's shaping
  of turn 2 and the credit rule (last turn, or the whole transcript with weight gamma).
* :func:`score_labels` — sample what the judge notices for labelled turns, then score.
* Your own judge (``judge.function``, ``module:function``): :func:`user_judge` loads it,
  :func:`noticed_turn` turns a reward-table flag set into the dict it is called with, and
  :func:`call_judge` calls it and refuses what is not one finite number. Backends that
  enumerate outcomes (mean-field, agent) call it once per distinct episode and reuse the
  value, so a label judge drives them exactly.

Functions work elementwise on Python scalars or numpy arrays, so a batch of transcripts
is scored in one call and tests can enumerate label combinations by hand.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import math
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from seedbed.core.schema import ScenarioError
from seedbed.stages.credit import for_judge

# label of a turn → detection probability attribute of the judge that turns it into a
# detected flaw (the reward table's 'detected_*' inputs); 'corrected' needs no detection.
DETECTION = {"mistake": "d_mistake", "ignored": "d_ignore", "false_correction": "d_false", "harm": "d_harm"}


def turn_reward(j: Any, det_mistake: Any, corrected: Any, det_ignore: Any, det_false: Any, det_harm: Any,
                agreed: Any = 0, det_wrong_agree: Any = 0) -> Any:
    """Reward of one assistant turn from what the judge detected (0/1 flags or bool arrays).

    R = base·[no detected mistake] − pen_mistake·[detected mistake] + bonus·[corrected]
        − pen_ignore·[detected earlier mistake left uncorrected]
        − pen_false·[detected false correction] − pen_harm·[detected harm]
        + syc_bonus·[agreed with the user's stated belief] − pen_mistake·[detected wrong agreement]

    ``j`` is a :class:`seedbed.core.config.Judge` or anything with the same coefficient
    attributes (the mean-field parameters hold them as (G,) arrays). With array flags the
    result has the flags' shape; with scalar flags it has the coefficients' shape.
    """
    if isinstance(det_mistake, np.ndarray):       # arrays of flags: accumulate in one float64 buffer
        r = np.where(det_mistake, -j.pen_mistake, j.base)
        for coef, lab in ((j.bonus, corrected), (-j.pen_ignore, det_ignore), (-j.pen_false, det_false),
                          (-j.pen_harm, det_harm), (j.syc_bonus, agreed), (-j.pen_mistake, det_wrong_agree)):
            if coef and isinstance(lab, np.ndarray):
                r[lab] += coef
            elif coef and lab:
                r += coef
        return r
    return (j.base * (1 - det_mistake) - j.pen_mistake * det_mistake + j.bonus * corrected
            - j.pen_ignore * det_ignore - j.pen_false * det_false - j.pen_harm * det_harm
            + j.syc_bonus * agreed - j.pen_mistake * det_wrong_agree)


def expected_turn_reward(j: Any, turn: Mapping[str, Any]) -> float:
    """E[R] of one turn with ground-truth labels ``turn`` (mistake, corrected, ignored,
    false_correction, harm: truthy or not), over what the judge notices.

    Each flaw is noticed with its detection probability, and R is linear in every
    detection flag, so E[R] = turn_reward with each flag replaced by label · d_*."""
    det = {lab: float(bool(turn.get(lab))) * getattr(j, d) for lab, d in DETECTION.items()}
    return turn_reward(j, det["mistake"], float(bool(turn.get("corrected"))), det["ignored"],
                       det["false_correction"], det["harm"])


def shaped_second_turn(alpha: Any, r1: Any, r2: Any) -> Any:
    """SCoRe's shaped reward of turn 2: r2 + alpha·(r2 − r1) (a bonus for improving on turn 1)."""
    return r2 + alpha * (r2 - r1)


def episode_return(j: Any, r1: Any, r2: Any) -> Any:
    """Selection score of a two-turn episode written by one persona: the judge's credit rule
    (:mod:`seedbed.stages.credit`, with SCoRe's shaping alpha of turn 2) on (r1, r2).

      'last_turn' / 'last':     r2'               (the judge sees only the last message)
      'transcript' / 'discounted': r1 + gamma·r2'  (credit reaches the turn that planted the mistake)
      'sum', 'discounted_final', 'turn_delta', 'score_shaping': the frameworks' rules

    with r2' = r2 + alpha·(r2 − r1). ``j`` has ``credit``, ``gamma`` and ``alpha`` (arrays must
    already broadcast against r1 and r2). Every rule is linear in r1 and r2, so it also maps
    expected turn rewards to the expected return.
    """
    return for_judge(j).value([r1, r2])


def notice(j: Any, rng: np.random.Generator, mistake: np.ndarray, ignored: np.ndarray,
           false_correction: np.ndarray, harm: np.ndarray) -> tuple[np.ndarray, ...]:
    """What the judge notices of turns with these ground-truth labels: each flaw
    independently with its detection probability (d_mistake for an own mistake, d_ignore
    for an ignored earlier mistake, d_false, d_harm). Returns the four noticed flags."""
    u = rng.random((4, len(mistake)))
    return (mistake & (u[0] < j.d_mistake), ignored & (u[1] < j.d_ignore),
            false_correction & (u[2] < j.d_false), harm & (u[3] < j.d_harm))


def score_labels(j: Any, rng: np.random.Generator, mistake: np.ndarray, corrected: np.ndarray,
                 ignored: np.ndarray, false_correction: np.ndarray, harm: np.ndarray) -> np.ndarray:
    """Rewards of turns given their ground-truth labels, drawing what the judge notices
    (:func:`notice`) and scoring it with the reward table."""
    m, ig, f, h = notice(j, rng, mistake, ignored, false_correction, harm)
    return turn_reward(j, m, corrected, ig, f, h)


# ------------------------------------------------------------------ your own judge
# the dict a label judge is called with, per assistant turn: key → the reward table's flag
NOTICED = {"mistake": "det_mistake", "corrected": "corrected", "ignored": "det_ignore",
           "false_correction": "det_false", "harm": "det_harm", "agreed": "agreed",
           "wrong_agreement": "det_wrong_agree"}
PREFIX_NAMES = ("none", "clean", "mistaken")


def noticed_turn(prefix: int | str, **flags: Any) -> dict[str, Any]:
    """One turn as a label judge sees it: what the judge noticed (the keyword flags of
    :func:`turn_reward`; missing ones are False) and ``prefix`` ('none', 'clean' or
    'mistaken': what the turn answered)."""
    turn: dict[str, Any] = {k: bool(flags.get(f, 0)) for k, f in NOTICED.items()}
    turn["prefix"] = PREFIX_NAMES[prefix] if isinstance(prefix, (int, np.integer)) else prefix
    return turn


def load_function(spec: str, what: str = "judge") -> Callable[..., Any]:
    """``module:function`` imported from the working directory, as ``python -m`` would, or
    ``path/to/file.py:function`` loaded from that file (relative to the working directory).
    Raises ScenarioError naming ``spec`` when it cannot be imported or is not callable."""
    mod, _, fn = spec.rpartition(":") if ".py:" in spec else spec.partition(":")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        with contextlib.redirect_stdout(sys.stderr):      # a print at import time is the user's, not ours
            f = getattr(_import(mod), fn)
    except Exception as e:  # ImportError, SyntaxError, an error raised on import, a missing name
        raise ScenarioError(f"{what} {spec!r}: cannot import ({type(e).__name__}: {e})") from None
    if not callable(f):
        raise ScenarioError(f"{what} {spec!r}: {fn} is not callable")
    return stdout_to_stderr(f)


def _import(mod: str) -> Any:
    """A module by dotted name, or a ``.py`` file by path (loaded under a name derived from
    its resolved path, so two files called judge.py do not collide)."""
    if not mod.endswith(".py"):
        return importlib.import_module(mod)
    path = Path(mod).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}")
    name = f"_seedbed_judge_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)    # type: ignore[arg-type]
    spec.loader.exec_module(module)                    # type: ignore[union-attr]
    sys.modules[name] = module
    return module


def stdout_to_stderr(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` with whatever it prints sent to stderr: stdout belongs to seedbed (``--json``
    output must parse), a user's debugging print goes where the user still sees it."""
    @functools.wraps(f)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return f(*args, **kwargs)
    return quiet


@functools.lru_cache(maxsize=32)
def _cached(spec: str) -> Callable[..., Any]:
    return load_function(spec, "judge.function")


def user_judge(j: Any, reads: str | None = None) -> Callable[..., Any] | None:
    """The callable of ``j.function`` (None when the reward table judges). With ``reads``,
    a judge that reads something else is refused (e.g. a text judge where only labels exist)."""
    spec = getattr(j, "function", None)
    if spec is None:
        return None
    if reads is not None and j.reads != reads:
        raise ScenarioError(f"judge.reads = {j.reads!r}: this backend gives the judge {reads}, not {j.reads} "
                            "(a text judge needs real transcripts: the neural backend)")
    return _cached(spec)


def call_judge(fn: Callable[..., Any], episode: Sequence[Any], where: str) -> float:
    """``fn(episode)`` as one finite float; a judge that raises or returns anything else is
    refused with a line naming the episode."""
    try:
        r = float(fn(list(episode)))
    except Exception as e:  # a user judge that fails names itself
        raise ScenarioError(f"judge raised {type(e).__name__}: {e} on {where}") from None
    if not math.isfinite(r):
        raise ScenarioError(f"judge returned {r} (not a finite number) on {where}")
    return r
