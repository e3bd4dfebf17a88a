"""``seedbed audit env:NAME --credit RULE``: does an environment, under a framework's credit
rule, pay a policy for planting mistakes or stalling? (the 'env:' branch of ``seedbed audit``)

Prints the canonical trajectories with the environment's per-turn rewards and the return,
the margin of the best seeding/stalling trajectory over honest play, the stalling margin,
the break-even fix rate q*(p, f) (closed form where it exists), and the outer loop's verdict
(:mod:`seedbed.analyses.env_outer`); writes everything to ``OUT/audit.json``. Exit 1 when a
seeding or stalling policy beats honest play.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from seedbed.cli.output import console, err_console
from seedbed.core.schema import ScenarioError

# the frameworks' defaults when --gamma / --alpha are not given
DEFAULT_GAMMA = {"discounted_final": 0.9}     # AReaL's agent workflows: turn_discount = 0.9
DEFAULT_ALPHA = {"score_shaping": 10.0}       # SCoRe's alpha


def _rate(name: str, v: float | None) -> None:
    if v is not None and not 0.0 <= v <= 1.0:
        raise ScenarioError(f"--{name} {v:g}: a probability, in [0, 1]")


def audit_env(spec: str, credit: str | None, gamma: float | None, alpha: float | None, max_turns: int | None,
              right: str | None, wrong: list[str] | None, hedge: str | None, p: float, f: float | None,
              q: float | None, out: Path | None, rounds: int, outer: bool, json_out: bool) -> None:
    """The environment audit (see the module docstring)."""
    from seedbed.analyses.breakeven import Model, closed_form_q_star, has_closed_form, margins
    from seedbed.analyses.environments import canonical, load_source
    from seedbed.core.registry import CREDIT
    from seedbed.results.folders import check_writable
    from seedbed.stages.credit import build, canonical as canonical_name

    for name, v in (("p", p), ("f", f), ("q", q)):
        _rate(name, v)
    if gamma is not None and not 0.0 <= gamma <= 1.0:
        raise ScenarioError(f"--gamma {gamma:g}: a discount, in [0, 1]")
    if alpha is not None and alpha < 0:
        raise ScenarioError(f"--alpha {alpha:g}: SCoRe's shaping weight, at least 0")
    if credit is not None and credit not in CREDIT:
        raise ScenarioError(f"--credit {credit!r}: unknown credit rule; available: {', '.join(CREDIT.names())}")
    src = load_source(spec, max_turns=max_turns, right=right, wrong=wrong, hedge=hedge)
    name = canonical_name(credit or src.default_credit)
    rule = build(name, gamma=DEFAULT_GAMMA.get(name, 1.0) if gamma is None else gamma,
                 alpha=DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha, source="--credit")
    f = p if f is None else f
    q = p if q is None else q
    if outer:
        out = out or Path("runs/audit") / f"{spec.replace(':', '_').replace('/', '_')}-{name}"
        check_writable(out)
    plays = canonical(src)
    model = Model(src, rule)
    m = margins(model, plays)
    closed = has_closed_form(src, plays)
    q_num = model.q_star(p, f)
    q_closed = closed_form_q_star(rule, p, f) if closed else None
    q_two = Model(src, rule, horizon=2).q_star(p, f) if src.max_turns > 2 else q_num
    record: dict[str, Any] = {
        "environment": src.name, "version": src.version, "credit": rule.describe(), "notes": src.notes,
        "trajectories": [{"trajectory": t.name, "kind": t.kind, "actions": t.actions[:t.turns], "rewards": t.rewards,
                          "return": model.value(t)} for t in plays],
        "honest_return": m.honest, "best_rival": m.best_name, "best_rival_return": m.best, "margin": m.margin,
        "stalling_margin": m.stalling_margin, "beats_honest": m.beats_honest,
        "policies": {"p": p, "f": f, "q": q, "honest": model.honest(p, f) if src.multi_turn else None,
                     "seeder": model.seeder(q) if src.multi_turn else None},
        "q_star": q_num, "q_star_closed_form": q_closed, "closed_form": closed, "q_star_two_attempts": q_two,
    }
    if outer and src.multi_turn:
        from seedbed.analyses.env_outer import run_outer
        from seedbed.api import run

        with err_console.status("outer loop: the induced strategies on the mean-field backend ..."):
            record["outer"] = run_outer(src, rule, out, p, f, q, run, rounds=rounds).as_dict()
    if out is not None and outer:
        out.mkdir(parents=True, exist_ok=True)
        (out / "audit.json").write_text(json.dumps(record, indent=2, default=float) + "\n", encoding="utf-8")
    if json_out:
        console.print_json(json.dumps(record, default=float))
    else:
        _print(record, src)
    if m.beats_honest:
        raise typer.Exit(1)


def _print(rec: dict[str, Any], src: Any) -> None:
    t = Table(title=f"{rec['environment']} ({rec['version']}) under credit {rec['credit']}", title_justify="left")
    for c in ("trajectory", "per-turn rewards (the environment's)", "return"):
        t.add_column(c, overflow="fold", justify="right" if c == "return" else "left")
    for row in rec["trajectories"]:
        t.add_row(row["trajectory"], ", ".join(f"{r:g}" for r in row["rewards"]), f"{row['return']:.4g}")
    console.print(t)
    for n in rec["notes"]:
        console.print(f"[dim]{n}[/]")
    verdict = "[bold red]beats honest play[/]" if rec["beats_honest"] else "[green]does not beat honest play[/]"
    console.print(f"best rival: {rec['best_rival']} returns {rec['best_rival_return']:.4g} against honest "
                  f"{rec['honest_return']:.4g}: margin {rec['margin']:+.4g}, {verdict}")
    if rec["stalling_margin"] is not None:
        console.print(f"stalling margin (max over k of stall k − right at once): {rec['stalling_margin']:+.4g}")
    pol = rec["policies"]
    if pol["honest"] is not None:
        qs = rec["q_star"]
        qtxt = "none ≤ 1 (no seeder reaches honest play)" if qs is None else f"{qs:.4f}"
        if rec["closed_form"]:
            qc = rec["q_star_closed_form"]
            qtxt += f" (closed form {'none ≤ 1' if qc is None else f'{qc:.4f}'})"
        q2 = rec["q_star_two_attempts"]
        if src.max_turns > 2:
            qtxt += f"; over two attempts (the outer loop's episodes) {'none ≤ 1' if q2 is None else f'{q2:.4f}'}"
        console.print(f"honest(p = {pol['p']:g}, f = {pol['f']:g}) returns {pol['honest']:.4g}; seeder(q = "
                      f"{pol['q']:g}) {pol['seeder']:.4g}; break-even fix rate q*(p, f) = {qtxt}")
    o = rec.get("outer")
    if o:
        for label, key in (("own episodes", "episodes"), ("self-written prompts", "self_written"), ("PBT", "pbt")):
            r = o[key]
            console.print(f"outer loop, {label}: S's final share {r['S_final']:.3f} against {r['S_final_control']:.3f} "
                          f"in its control ({r['seeds']} seed(s)): [bold]{r['outcome']}[/] — {r['reason']}")
        a = o["analysis"]
        cross = ", ".join(f"{c:.3f}" for c in a["invasion_crosses_1_at_fix_rate"]) or "never in [0, 1]"
        console.print(f"analysis: a rare S's invasion factor into all-H is {a['S_invasion_factor']:.4f} per round; "
                      f"it crosses 1 along S's fix rate at {cross}. Folder: {o['folder']}")
