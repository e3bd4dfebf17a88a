"""``seedbed coupling``: the isolated coupling test of a neural base, measured once and kept.

A plain function with typer annotations; the CLI registers it. The test itself is
:func:`seedbed.backends.neural.coupling.isolated`: fine-tune the base on correction turns
only and measure how far the untrained first turn moves. A run on the tiny base measures it
by itself (seconds); a run on a chat model (SmolLM2) only reads it, because there the test
fine-tunes a 135M model once per arm and seed. This command measures it, so that every later
run on that base with the same fine-tuning settings reports it in ``coupling.json`` and
makes the trait prediction.
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from seedbed.core.schema import ScenarioError


def coupling_command(
    scenario: str = typer.Argument(..., help="Preset name (see `seedbed list`) or path to a TOML file."),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a field: key=value (repeatable); "
                                                                       "neural.model picks the base."),
    seeds: int = typer.Option(3, "--seeds", min=2, help="Seeds per arm (own training questions, slips, batch "
                                                       "order, adapters)."),
    steps: Optional[str] = typer.Option(None, "--steps", help="Comma-separated optimizer step counts, starting at 0 "
                                                              "(default 0,8,16,32 for a chat model, 0,8,16,32,64 "
                                                              "for the tiny model)."),
    arms: Optional[str] = typer.Option(None, "--arms", help="Comma-separated arms: plain, rehearsal, inoculation, "
                                                            "rehearsal+inoculation (default all four)."),
    json_out: bool = typer.Option(False, "--json", help="Print the kept summary as JSON only."),
) -> None:
    """Measure the isolated coupling test of the scenario's neural base and keep it in the cache.

    Fine-tunes the base on correction turns only (loss on the review turn) for each step count and
    measures the exact first-turn error and fix rate after each; prints the coupling c per arm (1: the
    first turn moves as a persona mixture's would; below 0: fixing makes it answer better), with
    95% t intervals over seeds. Later runs on that base with the same fine-tuning settings read it.

    Example:

        seedbed coupling seed --set neural.model=runs/.cache/smollm2-135m-instruct-adapted-KEY \\
            --set neural.batch_size=8 --arms plain,rehearsal --steps 0,8,16
    """
    from seedbed.backends.neural.coupling import ARMS, cached_isolated
    from seedbed.cli.output import console, err_console
    from seedbed.core.config import load_scenario

    scn = load_scenario(scenario, set_ or [])
    if scn.neural is None:
        raise ScenarioError(f"{scenario}: has no [neural] section")
    chosen = _arms(arms, ARMS)
    step_counts = _steps(steps)

    def progress(done: int, of: int) -> None:
        err_console.print(f"  measured {done}/{of} (arm × seed × step count)", highlight=False)

    err_console.print(f"isolated coupling test: {len(chosen)} arm(s) × {seeds} seeds", highlight=False)
    out = cached_isolated(scn, scn.seed, seeds, step_counts, chosen, progress=progress, measure=True)
    if out is None:
        raise ScenarioError("neural.model: the base folder has no model.safetensors to key the test by")
    if json_out:
        console.print_json(json.dumps(out))
        return
    from rich.table import Table

    from seedbed.analyses.coupling import isolated_readings

    t = Table(show_edge=False, title=f"isolated coupling test, persona slope {out['persona_slope']}")
    for col in ("arm", "seeds", "fix shift (last step)", "first-turn error shift", "coupling c [95% CI]"):
        t.add_column(col)
    ci = lambda x: "n/a" if not x or x[0] is None else f"{x[0]:+.3f} [{x[1]:+.3f}, {x[2]:+.3f}]"  # noqa: E731
    for a in out["arms"]:
        last = a["rows"][-1] if a["rows"] else {}
        t.add_row(a["arm"], str(a["seeds"]), ci(last.get("d_fix")), ci(last.get("d_first_error")),
                  ci(a.get("coupling")))
    console.print(t)
    for arm, text in isolated_readings(out).items():   # long sentences: below the table, not in a column
        console.print(f"{arm}: {text}", highlight=False)


def _steps(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        v = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ScenarioError(f"--steps {text!r}: not a comma-separated list of integers") from None
    if len(v) < 2 or v[0] != 0 or any(b <= a for a, b in zip(v, v[1:])):
        raise ScenarioError(f"--steps {text!r}: must start at 0 and increase, with at least one more count")
    return v


def _arms(text: str | None, known: tuple[tuple[str, bool, bool], ...]) -> tuple[tuple[str, bool, bool], ...]:
    if text is None:
        return known
    by_name = {a[0]: a for a in known}
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in names if x not in by_name]
    if bad or not names:
        raise ScenarioError(f"--arms {text!r}: choose from {', '.join(by_name)}")
    return tuple(by_name[x] for x in dict.fromkeys(names))
