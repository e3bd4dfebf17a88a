"""The outer loop over rounds and population members, shared by every backend.

A backend supplies one function, ``step(S, writer, configs, round) -> (S', stats, keep)``,
that advances all M members by one round (S: shares (M, K); writer: the shares that
write each member's self-written prompts). This module owns everything around it:

* the round loop and the tidy rows (one per round × member × metric);
* context swapping: member m's prompts are written by member m + 1 (mod M), so a
  member's seeding feeds a rival, never itself;
* population-based training (H2): every ``interval`` rounds the bottom ``fraction`` copy
  a random member of the top ``fraction`` (exploit), then perturb hyperparameters
  (explore, a pure function that returns the new config and a record of each change);
* an append-only JSON-lines lineage log, readable back into a table, and a schedule that
  re-runs a population from its log's decisions instead of fresh random choices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from seedbed.core.config import Scenario
from seedbed.results.lineage import Lineage

if TYPE_CHECKING:
    from seedbed.backends import Repetition

StepFn = Callable[[np.ndarray, np.ndarray, list[dict[str, float]], int],
                  tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]]


def explore(config: dict[str, float], keys: Iterable[str], factors: list[float],
            rng: np.random.Generator) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Perturb ``keys`` of a member's config: multiply by a factor drawn from ``factors``,
    clipped to [0, 1] (both explorable values are rates). Pure: returns a new config and
    {key: [old, new]} for every key, leaving the input alone."""
    new = dict(config)
    changes: dict[str, list[float]] = {}
    for k in keys:
        old = float(config[k])
        new[k] = float(np.clip(old * factors[int(rng.integers(len(factors)))], 0.0, 1.0))
        changes[k] = [old, new[k]]
    return new, changes


def initial_shares(scn: Scenario, rng: np.random.Generator) -> np.ndarray:
    """(M, K) starting shares: the scenario's, or Dirichlet draws around them (init_spread)."""
    pop = scn.population
    base = np.asarray(scn.shares, dtype=float)
    if pop.init_spread <= 0 or pop.members == 1:
        return np.tile(base, (pop.members, 1))
    alpha = np.maximum(base / pop.init_spread, 1e-6)
    return rng.dirichlet(alpha, size=pop.members)


ExploitFn = Callable[[int, int], None]


def run_members(rep: "Repetition", step: StepFn, S0: np.ndarray | None = None,
                on_exploit: ExploitFn | None = None) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Run all rounds of one repetition for all members. Returns the final shares (M, K)
    and the members' configs.

    ``rep.schedule``: lineage events to follow (exploit parents and explore values are
    taken from it instead of being drawn), which reproduces a logged population exactly.
    ``S0``: measured starting shares (M, K), e.g. a neural model's probes; keep rates that
    a backend cannot observe (NaN) are not written.
    ``on_exploit(member, parent)``: lets a backend copy state the loop does not hold (a
    neural member's weights and optimizer).
    """
    scn, arm, seed, rows, progress = rep.scenario, rep.arm, rep.seed, rep.rows, rep.progress
    pop, names = scn.population, scn.names
    M = pop.members
    rng = rep.streams.rng("population")                # the outer loop's own stream
    S = initial_shares(scn, rng) if S0 is None else np.asarray(S0, dtype=float)
    configs = [{"update.eta": scn.update.eta, "update.kappa": scn.update.kappa} for _ in range(M)]
    lineage = rep.lineage if rep.lineage is not None else Lineage()
    for m in range(M):
        lineage.write({"event": "init", "arm": arm, "seed": seed, "round": 0, "member": m,
                       "config": configs[m], "shares": S[m].tolist()})
    r0 = np.zeros(1)
    for m in range(M):
        for k, name in enumerate(names):
            rows.add(arm, seed, r0, m, f"share/{name}", S[m:m + 1, k])
    fitness_hist: list[np.ndarray] = []
    logged = _by_round(rep.schedule) if rep.schedule is not None else None
    for r in range(1, scn.rounds + 1):
        # member m's self-written prompts: its own, or member m+1's under context swapping
        writer = np.roll(S, -1, axis=0) if pop.context_swap else S
        S, stats, keep = step(S, writer, configs, r)
        rr = np.array([r])
        for m in range(M):
            for k, name in enumerate(names):
                rows.add(arm, seed, rr, m, f"share/{name}", S[m:m + 1, k])
                if not np.isnan(keep[m, k]):
                    rows.add(arm, seed, rr, m, f"keep/{name}", keep[m:m + 1, k])
            for metric, v in stats.items():
                rows.add(arm, seed, rr, m, metric, v[m:m + 1])
        fitness_hist.append(stats["reward/mean"])
        if pop.interval and M > 1 and r % pop.interval == 0 and r < scn.rounds:
            if logged is not None:
                S, configs = _apply(logged.get(r, []), S, configs, lineage, arm, seed, on_exploit)
            else:
                window = 1 if pop.fitness == "last" else pop.window
                fit = np.mean(fitness_hist[-window:], axis=0)
                S, configs = exploit_explore(fit, S, configs, scn, rng, lineage, arm, seed, r, on_exploit)
        if progress is not None:
            snap = {f"share/{n}": float(S[:, k].mean()) for k, n in enumerate(names)}
            snap.update({mt: float(np.mean(v)) for mt, v in stats.items()})
            progress(r, snap)
    return S, configs


def exploit_explore(fitness: np.ndarray, S: np.ndarray, configs: list[dict[str, float]], scn: Scenario,
                    rng: np.random.Generator, lineage: Lineage, arm: str, seed: int, r: int,
                    on_exploit: ExploitFn | None = None) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Truncation selection: the bottom fraction copy a random top-fraction member, then explore."""
    pop = scn.population
    M = len(S)
    q = max(1, int(round(pop.fraction * M)))
    order = np.argsort(fitness + 1e-12 * rng.random(M), kind="stable")   # random order among ties
    bottom, top = order[:q], order[-q:]
    S, configs = S.copy(), [dict(c) for c in configs]
    for m in bottom:
        parent = int(rng.choice(top))
        S[m] = S[parent]
        if on_exploit is not None:
            on_exploit(int(m), parent)
        new, changes = explore(configs[parent], pop.explore, pop.factors, rng)
        configs[m] = new
        lineage.write({"event": "exploit", "arm": arm, "seed": seed, "round": r, "member": int(m),
                       "parent": parent, "member_fitness": float(fitness[m]), "parent_fitness": float(fitness[parent])})
        lineage.write({"event": "explore", "arm": arm, "seed": seed, "round": r, "member": int(m),
                       "changes": changes})
    return S, configs


def _by_round(events: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        if e["event"] in ("exploit", "explore"):
            out.setdefault(e["round"], []).append(e)
    return out


def _apply(events: list[dict[str, Any]], S: np.ndarray, configs: list[dict[str, float]], lineage: Lineage,
           arm: str, seed: int, on_exploit: ExploitFn | None = None) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Replay one round's logged exploit/explore decisions."""
    S, configs = S.copy(), [dict(c) for c in configs]
    for e in events:
        m = e["member"]
        if e["event"] == "exploit":
            S[m] = S[e["parent"]]
            configs[m] = dict(configs[e["parent"]])
            if on_exploit is not None:
                on_exploit(m, e["parent"])
        else:
            for k, (_, new) in e["changes"].items():
                configs[m][k] = new
        lineage.write({**e, "arm": arm, "seed": seed})
    return S, configs
