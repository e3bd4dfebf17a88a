"""``seedbed plan``: the seeds and rounds a conclusive verdict needs, before the run.

A plain function with typer annotations; the CLI registers it. It runs a short pilot (or
reads one given with ``--pilot``), then prints and writes the plan
(:func:`seedbed.analyses.planning.plan_from_pilot`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from seedbed.core.schema import ScenarioError


def plan_command(
    scenario: str = typer.Argument(..., help="Preset name (see `seedbed list`) or path to a TOML file."),
    backend: str = typer.Option("neural", "--backend", "-b", help="agent or neural (sampled backends)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a field: key=value (repeatable)."),
    pilot: Optional[Path] = typer.Option(None, "--pilot", help="A finished run folder to use as the pilot "
                                                               "(default: run one into OUT/pilot)."),
    pilot_seeds: int = typer.Option(3, "--pilot-seeds", min=2, help="Seeds per arm of the pilot run."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for plan.json and the pilot "
                                                                "(default runs/<name>/plan)."),
    power: float = typer.Option(0.8, "--power", min=0.5, max=0.99, help="Power the plan aims for."),
    use: str = typer.Option("predicted", "--use", help="predicted (the prediction's effect) or pilot "
                                                       "(the pilot's observed effect)."),
    min_rounds: Optional[int] = typer.Option(None, "--min-rounds", min=1, help="Fewest rounds the plan may "
                                                     "choose (default: the pilot's rounds; lower it to let the plan "
                                                     "stop earlier where the effect has settled)."),
    achieved: Optional[Path] = typer.Option(None, "--achieved", help="A finished run made from this plan: print "
                                                                    "the power it had (post-hoc, at the planned "
                                                                    "effect, with its own spread) instead of planning."),
    looks: Optional[int] = typer.Option(None, "--looks", min=2, max=10, help="Also plan a group-sequential design "
                                                                      "with this many looks (O'Brien-Fleming alpha "
                                                                      "spending): add seeds until decided, with "
                                                                      "valid error control."),
    sd_bound: float = typer.Option(0.8, "--sd-bound", min=0.0, max=0.99,
                                   help="Plan against this one-sided upper confidence bound of the pilot's sd "
                                        "(0: the pilot's sd itself). A 3-seed pilot's 80% bound is 2.1x its sd; "
                                        "with --looks a lower bound costs only power, never error control."),
    json_out: bool = typer.Option(False, "--json", help="Print plan.json only."),
) -> None:
    """Plan a conclusive experiment: seeds per arm and rounds for the chosen power at the 0.02 threshold.

    The predicted effect comes from the like-for-like prediction (neural) or the exact
    mean-field run (agent); the per-seed spread from a pilot run (its sd's 80% upper
    confidence bound; --sd-bound sets the level, 0 the sd itself). The power is exact for the verdict's paired t rule (noncentral t).

    Example:

        seedbed plan seed --backend neural --pilot-seeds 3 --out runs/seed-plan
        seedbed plan seed --backend neural --pilot runs/seed-plan/pilot --looks 3 --out runs/seed-plan
        seedbed plan seed --out runs/seed-plan --achieved runs/seed-look1   # decides at the run's look

    With --looks the plan also holds a group-sequential design: `seedbed run --seeds auto --plan
    plan.json` runs it look by look until one decides (or run a look's seeds yourself, then
    `--achieved RUN` says selects, does not select, or continue with the next look's seeds).
    """
    from seedbed.analyses.planning import plan_from_pilot
    from seedbed.core.config import load_scenario

    if backend not in ("agent", "neural"):
        raise ScenarioError(f"--backend {backend!r}: plan a sampled backend (agent or neural); an exact run needs "
                            "no seeds")
    if use not in ("predicted", "pilot"):
        raise ScenarioError(f"--use {use!r}: predicted or pilot")
    scn = load_scenario(scenario, set_ or [])
    folder = Path(out) if out is not None else Path("runs") / scn.name / "plan"
    if achieved is not None:
        from seedbed.analyses.planning import achieved as achieved_power

        if not (folder / "plan.json").exists():
            raise ScenarioError(f"--achieved: no plan.json in {folder} (give the plan's --out)")
        planned = json.loads((folder / "plan.json").read_text())
        a = achieved_power(Path(achieved), planned)
        seq = planned.get("sequential") or {}
        if seq.get("looks") and a.get("n") in seq["looks"]:
            from seedbed.analyses.planning import decide_look

            a["sequential"] = decide_look(Path(achieved), seq)
        elif seq.get("looks"):
            a["sequential_note"] = (f"{a.get('n')} seeds per arm is not one of the sequential design's looks "
                                    f"{seq['looks']}: judged as a fixed design only")
        if json_out:
            typer.echo(json.dumps(a, indent=2))
            return
        if "sequential_note" in a:
            typer.echo(f"  note: {a['sequential_note']}")
        if "sequential" in a:
            s = a["sequential"]
            nxt = f": run --seeds {s['next_seeds']} (look {s['look'] + 1})" if s["next_seeds"] else ""
            typer.echo(f"{achieved}: sequential look {s['look']} of {s['of']} ({s['seeds']} seeds), effect "
                       f"{s['effect']:+.4f}, interval at the look's boundary t = {s['t_bound']:.3f}: "
                       f"[{s['interval'][0]:+.4f}, {s['interval'][1]:+.4f}] -> {s['outcome']}{nxt}")
        typer.echo(f"{achieved}: {a['label']}, {a['n']} seeds, observed sd {a['observed_sd']:.4f}, effect "
                   f"{a['observed_effect']:+.4f}")
        if "power_at_planned_effect" in a:
            lo, hi = a["power_at_planned_effect_interval"]
            typer.echo(f"  power at the planned effect {planned['plan']['predicted_effect']:+.4f}: "
                       f"{a['power_at_planned_effect']:.3f} (95% interval from the sd's: {lo:.3f} to {hi:.3f}); "
                       f"planned {planned['plan']['power']:.3f}")
        return
    if pilot is None:
        import seedbed

        pilot = folder / "pilot"
        if not json_out:
            typer.echo(f"pilot: {pilot_seeds} seeds per arm on {backend} into {pilot}")
        seedbed.run(scn, backend=backend, seeds=pilot_seeds, out=pilot, resume=(pilot / "manifest.json").exists())
    plan = plan_from_pilot(Path(pilot), goal=power, upper=sd_bound or None, use=use, min_rounds=min_rounds)
    if looks is not None and plan["plan"]["seeds"] is not None:
        from seedbed.analyses.planning import sequential_from_plan

        plan["sequential"] = sequential_from_plan(plan, looks)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    if json_out:
        typer.echo(json.dumps(plan, indent=2))
        return
    from seedbed.analyses.power import Plan

    typer.echo(f"quantity: {plan['metric']} (scenario − control), pilot {plan['pilot']} ({plan['pilot_seeds']} seeds)")
    for line in Plan(**plan["plan"]).lines():
        typer.echo(line)
    p = plan["plan"]
    rounds_field = "neural.rounds" if backend == "neural" else "rounds"
    sets = [s for s in (set_ or []) if not (p["rounds"] and s.split("=", 1)[0].strip() == rounds_field)]
    sets = ([f"{rounds_field}={p['rounds']}"] if p["rounds"] else []) + sets
    sets_text = "".join(f" --set {s}" for s in sets)
    if p["seeds"] is not None:
        typer.echo(f"run it: seedbed run {scenario} --backend {backend} --seeds {p['seeds']}{sets_text}")
    seq = plan.get("sequential") or {}
    if seq.get("looks"):
        sim = seq["simulated"]
        typer.echo(f"sequential ({seq['k']} looks, {seq['spending']}): seeds per arm at each look {seq['looks']}, "
                   f"t boundaries {', '.join(f'{b:.3f}' for b in seq['t_bounds'])}; conclusive "
                   f"{sim['selects'] + sim['does not select']:.3f}, expected seeds {sim['expected_seeds']:.1f} "
                   f"({sim['label']})")
        if "simulated_at_pilot_effect" in seq:
            at = seq["simulated_at_pilot_effect"]
            typer.echo(f"  at the pilot's own effect {plan['pilot_check']['pilot_effect']:+.4f}: conclusive "
                       f"{at['selects'] + at['does not select']:.3f}, expected seeds {at['expected_seeds']:.1f}")
        typer.echo(f"  run it look by look: seedbed run {scenario} --backend {backend} --seeds auto --plan "
                   f"{folder / 'plan.json'}{sets_text}")
    typer.echo(f"written: {folder / 'plan.json'}")
