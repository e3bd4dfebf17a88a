"""``seedbed audit``: is honest behaviour reward-maximal everywhere, and what does a correction earn?"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from seedbed.cli.output import console
from seedbed.core.schema import ScenarioError


def audit(
    judge: str = typer.Argument(..., help="A scenario (preset or TOML: its judge and strategies), a callable "
                                          "module:function (imported from the working directory), or "
                                          "model:PATH (a local chat model folder as a judge, e.g. "
                                          "model:runs/.cache/smollm2-135m-instruct), or env:NAME (an environment)."),
    reads: str = typer.Option("labels", "--reads", help="What a module:function judge is called with: 'labels' "
                                                       "(labelled turns) or 'text' (chat messages)."),
    items: int = typer.Option(200, "--items", min=2, help="Generated items for a text or model judge's "
                                                         "correction premium."),
    seed: int = typer.Option(0, "--seed", help="Root seed of the generated items."),
    json_out: bool = typer.Option(False, "--json", help="Print the findings, the premium and every score as JSON."),
    credit: Optional[str] = typer.Option(None, "--credit", help="env: the credit rule (last, sum, discounted, "
                                         "discounted_final, turn_delta, score_shaping; default: the environment's "
                                         "framework's)."),
    gamma: Optional[float] = typer.Option(None, "--gamma", help="env: discount of discounted / discounted_final "
                                                                "(default 1; 0.9 for discounted_final, AReaL's)."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="env: SCoRe shaping of the last turn (default 0; "
                                                                "10 for score_shaping, SCoRe's)."),
    max_turns: Optional[int] = typer.Option(None, "--max-turns", help="env: attempts per episode (default: the "
                                                                      "environment's)."),
    right: Optional[str] = typer.Option(None, "--right", help="env (your own): the right answer to play."),
    wrong: Optional[list[str]] = typer.Option(None, "--wrong", help="env (your own): a wrong answer (repeatable)."),
    hedge: Optional[str] = typer.Option(None, "--hedge", help="env (a grader): a hedged answer to score."),
    p: float = typer.Option(0.9, "--p", help="env: the honest policy's first-attempt accuracy."),
    f: Optional[float] = typer.Option(None, "--f", help="env: the honest policy's fix rate (default p)."),
    q: Optional[float] = typer.Option(None, "--q", help="env: the seeder's fix rate of its own mistake (default p)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="env: folder for audit.json and the outer loop "
                                                                  "(default runs/audit/<env>-<rule>)."),
    rounds: int = typer.Option(200, "--rounds", min=1, help="env: rounds of the outer loop."),
    no_outer: bool = typer.Option(False, "--no-outer", help="env: skip the outer loop (nothing is written)."),
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
      seedbed audit env:skyrl_gym.gsm8k_multi_turn --credit sum
      seedbed audit env:seedbed.two_attempts --credit turn_delta
      seedbed audit env:mypkg.envs:make_env --right "#### 72" --wrong "#### 71"

    An environment (env:NAME: skyrl_gym.ENV, reasoning_gym.DATASET, seedbed.two_attempts, seedbed.retry, or your
    module:factory) is played through canonical trajectories and every turn scored by it; the credit rule makes
    the returns; exits 1 when a seeding or stalling trajectory beats honest play.
    """
    import json as _json

    if judge.startswith("env:"):
        from seedbed.cli.audit_env import audit_env

        audit_env(judge[4:], credit, gamma, alpha, max_turns, right, wrong, hedge, p, f, q, out, rounds,
                  not no_outer, json_out)
        return

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
