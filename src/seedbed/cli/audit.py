"""``seedbed audit``: is honest behaviour reward-maximal everywhere, and what does a correction earn?"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from seedbed.cli.output import console
from seedbed.core.schema import ScenarioError


def audit(
    judge: str = typer.Argument(..., help="A scenario (preset or TOML: its judge and strategies), a callable "
                                          "module:function (imported from the working directory), or "
                                          "model:PATH (a local chat model folder as a judge, e.g. "
                                          "model:runs/.cache/smollm2-135m-instruct)."),
    reads: str = typer.Option("labels", "--reads", help="What a module:function judge is called with: 'labels' "
                                                       "(labelled turns) or 'text' (chat messages)."),
    items: int = typer.Option(200, "--items", min=2, help="Generated items for a text or model judge's "
                                                         "correction premium."),
    seed: int = typer.Option(0, "--seed", help="Root seed of the generated items."),
    json_out: bool = typer.Option(False, "--json", help="Print the findings, the premium and every score as JSON."),
) -> None:
    """Is honest behaviour reward-maximal in every situation, and does a correction pay more than a fresh answer?

    A label judge (a scenario's reward table or a module:function over labelled turns) is audited situation by
    situation and its correction premium is exact; a text judge (--reads text) or a model judge (model:PATH)
    scores generated transcripts and its premium comes with a 95% interval over items. Exits 1 on a violation
    (or a premium whose interval lies above 0), 2 on a bad judge.

    Examples:
      seedbed audit seed
      seedbed audit mypkg.judges:my_judge --json
      seedbed audit mypkg.judges:my_text_judge --reads text --items 400
      seedbed audit model:runs/.cache/smollm2-135m-instruct
    """
    import json as _json

    from seedbed.analyses.premium import label_premium, text_premium

    if reads not in ("labels", "text"):
        raise ScenarioError(f"--reads {reads!r}: choose 'labels' or 'text'")
    if judge.startswith("model:") or reads == "text":
        from seedbed.stages.judge import load_function

        if judge.startswith("model:"):
            from seedbed.analyses.model_judge import ModelJudge

            fn: Any = ModelJudge(judge.partition(":")[2])
        else:
            fn = load_function(judge)
        with console.status(f"scoring {3 * items} generated transcripts with {judge} ..."):
            prem = text_premium(fn, judge, n=items, seed=seed)
        if json_out:
            console.print_json(_json.dumps({"judge": judge, "premium": prem.as_dict()}))
        else:
            console.print(prem.line())
        if prem.lo is not None and prem.lo > 0:
            raise typer.Exit(1)
        return
    from seedbed.analyses.audit import audit as run_audit, load_judge, to_json

    name, j, scn = load_judge(judge)
    res = run_audit(j, scn, name)
    prem = label_premium(j, name)
    if json_out:
        console.print_json(_json.dumps({**_json.loads(to_json(res)), "premium": prem.as_dict()}))
    else:
        for title, findings in ((f"Reward-consistency audit of {name} ({res.settings}): "
                                 f"{len(res.findings)} violation(s)", res.findings),
                                ("Worst case, not counted (transcript credit with gamma = 1)", res.worst_case)):
            if not findings:
                continue
            t = Table(title=title, title_justify="left")
            for c in ("situation", "honest", "winning strategy", "margin", "why"):
                t.add_column(c, overflow="fold")
            for f in findings:
                t.add_row(f.situation, f"{f.honest} ({f.honest_reward:.3f})", f"{f.best} ({f.best_reward:.3f})",
                          f"{f.margin:+.3f}", f.explanation)
            console.print(t)
        if res.consistent:
            situations = len({r["situation"] for r in res.table})
            worst = " incl. the worst case" if res.worst_case or any("worst case" in r["situation"]
                                                                      for r in res.table) else ""
            console.print(f"[bold green]consistent:[/] honest behaviour is reward-maximal in every situation checked "
                          f"for {name} ({res.settings}; {situations} situations{worst}).")
        console.print(prem.line())
    if not res.consistent:
        raise typer.Exit(1)
