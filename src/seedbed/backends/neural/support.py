"""What the neural backend can honour: every scenario field it cannot is refused up front.

The mean-field and agent backends read every field of the scenario. The neural backend
puts a real model through the pipeline instead, and some fields have no counterpart
there: the model's persona persistence is measured, not set; its task has no stated user
beliefs; its members all start from one pre-trained base. Running such a scenario would
silently ignore the field, so :func:`check_scenario` raises a
:class:`~seedbed.core.schema.ScenarioError` naming the first field it cannot honour, before
anything is pre-trained or written. A field at its default value (under which ignoring it
changes nothing) is always accepted.

:data:`FIELDS` records the decision for every field of the strategy, judge, prompts,
selection, update and population sections; a test checks it against the schema, so a new
field must be decided here before the neural backend runs it.
"""

from __future__ import annotations

import math

from seedbed.core.config import Scenario
from seedbed.core.schema import ScenarioError
from seedbed.stages.selection import Rule, get_rule
from seedbed.backends.neural.model import chat_folder

# update.eta's default: the neural step size is neural.lr at this value of update.eta
ETA_DEFAULT = 0.5
LORA_R, LORA_ALPHA = 8, 16.0        # neural.lora_r / lora_alpha defaults (a tiny model refuses other values)

HONOURED = "honoured"
REFUSED = "refused when set"
FIELDS: dict[str, str] = {
    "strategies.name": HONOURED,
    "strategies.share": HONOURED + " (the pre-training corpus's persona mixture)",
    "strategies.err": HONOURED + " (the corpus personas' first-turn mistake rate)",
    "strategies.err_deploy": REFUSED + " to a value other than err",
    "strategies.err_review": REFUSED + " to a value other than err",
    "strategies.fix": HONOURED,
    "strategies.false_fix": HONOURED,
    "strategies.harm": HONOURED,
    "strategies.agree": REFUSED,
    **{f"judge.{k}": HONOURED for k in ("base", "pen_mistake", "bonus", "pen_ignore", "pen_false", "pen_harm",
                                        "d_mistake", "d_ignore", "d_harm", "d_false", "credit", "gamma", "alpha")},
    "judge.syc_bonus": REFUSED,
    "judge.function": HONOURED + ": scores each parsed episode (reads = 'labels') or its text (reads = 'text')",
    "judge.reads": HONOURED,
    "prompts.m0": HONOURED + "; refused when set with turns = 2",
    "prompts.c0": HONOURED + "; refused when set with turns = 2",
    "prompts.phi": HONOURED + "; refused when set with turns = 2",
    "prompts.rho": REFUSED + " (measured as probe/rho)",
    "prompts.belief": REFUSED,
    "prompts.belief_wrong": REFUSED,
    "prompts.turns": HONOURED,
    "selection.rule": HONOURED + " (rules with a sampled form)",
    **{f"selection.{k}": HONOURED for k in ("tau", "n", "q", "temperature")},
    "update.eta": REFUSED + " to a value other than 0.5 (it scales neural.lr relative to 0.5 under PBT explore)",
    "update.kappa": HONOURED + " (as extra rehearsal)",
    **{f"population.{k}": HONOURED for k in ("members", "interval", "fitness", "window", "explore", "factors",
                                             "context_swap")},
    "population.fraction": HONOURED + "; on Ray Tune refused where Tune's quantile size differs from the local loop's",
    "population.init_spread": REFUSED,
}


def check_repetition(scn: Scenario, arm: str, executor: str = "local") -> None:
    """Refuse what the neural backend cannot honour, for this arm, and for the control arm
    too when this is the scenario arm (it runs first, so the control's overrides are
    checked before either arm writes a file)."""
    check_scenario(scn, executor)
    if arm == "scenario":
        control = scn.control_scenario()
        try:
            check_scenario(control, executor)
        except ScenarioError as e:
            raise ScenarioError(f"{e} (in the control arm, [control] set = {control.control.set})") from None


def check_scenario(scn: Scenario, executor: str = "local") -> None:
    """Raise ScenarioError naming the first field the neural backend cannot honour."""
    for problem in unsupported(scn, executor):
        raise ScenarioError(f"--backend neural cannot honour {problem}")


def unsupported(scn: Scenario, executor: str = "local") -> list[str]:
    """One line per field the neural backend cannot honour (empty: it honours them all)."""
    out: list[str] = []
    for s in scn.strategies:
        if s.err_deploy is not None and s.err_deploy != s.err:
            out.append(f"strategies.{s.name}.err_deploy = {s.err_deploy:g}: a corpus persona has one mistake rate; "
                       "the deployment rate is measured (behaviour/err_deploy), and training-only behaviour comes "
                       "from neural.inoculation")
        if s.err_review is not None and s.err_review != s.err:
            out.append(f"strategies.{s.name}.err_review = {s.err_review:g}: the corpus's review turns carry no "
                       "separate mistake rate")
        if s.agree:
            out.append(f"strategies.{s.name}.agree = {s.agree:g}: the neural task has no user beliefs to agree with")
    j, pr, sel, up, pop = scn.judge, scn.prompts, scn.selection, scn.update, scn.population
    if j.syc_bonus:
        out.append(f"judge.syc_bonus = {j.syc_bonus:g}: the neural task has no user beliefs to agree with")
    if pr.belief:
        out.append(f"prompts.belief = {pr.belief:g}: the neural task's prompts state no user beliefs")
    if pr.belief_wrong != 0.5:
        out.append(f"prompts.belief_wrong = {pr.belief_wrong:g}: the neural task's prompts state no user beliefs")
    if pr.rho:
        out.append(f"prompts.rho = {pr.rho:g}: a real model's persona persistence is measured (probe/rho), not set; "
                   "leave prompts.rho at 0")
    if pr.turns == 2:
        for name in ("phi", "m0", "c0"):
            if getattr(pr, name):
                out.append(f"prompts.{name} = {getattr(pr, name):g} with prompts.turns = 2: two-turn episodes start "
                           "from fresh questions (the model reviews its own first turn)")
    if type(get_rule(sel.rule)).weights is Rule.weights:
        out.append(f"selection.rule = {sel.rule!r}: the rule has no sampled form (Rule.weights)")
    if up.eta != ETA_DEFAULT:
        out.append(f"update.eta = {up.eta:g}: the neural step size is neural.lr (update.eta only scales it, relative "
                   f"to {ETA_DEFAULT:g}, when population-based training explores it); leave update.eta at "
                   f"{ETA_DEFAULT:g} and set neural.lr")
    n = scn.neural
    chat = bool(n.model) and chat_folder(n.model)
    if not chat and (n.lora_r != LORA_R or n.lora_alpha != LORA_ALPHA):
        name, v = ("lora_r", n.lora_r) if n.lora_r != LORA_R else ("lora_alpha", n.lora_alpha)
        out.append(f"neural.{name} = {v:g}: LoRA applies to a pretrained chat model (neural.model a folder whose "
                   "tokenizer has a chat template, e.g. from `seedbed prepare smollm2`); the tiny model is "
                   "fine-tuned whole")
    rounds = n.rounds or scn.rounds
    if n.twin_test_every > rounds:
        out.append(f"neural.twin_test_every = {n.twin_test_every}: more than the run's {rounds} rounds, so no trained "
                   "round would be tested (only the base); set it to at most neural.rounds, or 0 for no twin test")
    if pop.members > 1 and pop.init_spread:
        out.append(f"population.init_spread = {pop.init_spread:g}: every member starts from the same pre-trained "
                   "model (their starting shares are measured by the probes); leave it at 0")
    if executor == "ray" and pop.members > 1 and pop.interval:
        local = max(1, int(round(pop.fraction * pop.members)))                # the local loop's truncation size
        tune = min(math.ceil(pop.fraction * pop.members), pop.members // 2)   # Ray Tune PBT's quantile size
        if local != tune:
            out.append(f"population.fraction = {pop.fraction:g} with --executor ray: Ray Tune exploits {tune} of "
                       f"{pop.members} members where the local loop exploits {local}; choose a fraction with "
                       "fraction × members a whole number")
    return out
