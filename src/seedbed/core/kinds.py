"""Scenario kinds: what a scenario file describes, and how it is run and reported.

Every kind (``pipeline``, ``krueger``, ``grading``, and any added later) is one
:class:`Kind`: its pydantic model, ``run`` (execute and write the run folder), ``report``
(rebuild report.md and plots from that folder's files) and ``show`` (what the CLI
prints). The built-in kinds are named here by module path and imported on first use,
so the schema (:mod:`seedbed.core.config`) never imports a kind: the Python API, the CLI's
``run`` and ``report`` all dispatch through :data:`KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from seedbed.core.registry import Registry
from seedbed.core.schema import ScenarioError

KINDS: Registry["Kind"] = Registry("scenario kind", {
    "pipeline": "seedbed.kinds.pipeline", "krueger": "seedbed.kinds.krueger", "grading": "seedbed.kinds.grading"})


@dataclass(frozen=True)
class Kind:
    """One scenario kind.

    ``run(scn, out=None, progress=None, **options)`` executes a scenario, writes its run
    folder and returns a result object; ``progress(label, advance, snapshot)`` is called as
    units of work finish (``snapshot``: the latest per-round metrics, or None).
    ``total(scn, **options)`` gives the number of units per label, for progress bars.
    ``report(out)`` rebuilds report.md from the folder. ``show(result)`` returns what the
    CLI prints (rich renderables or markup strings). ``label(scn)``: a short description
    for listings.
    """

    name: str
    model: type
    run: Callable[..., Any]
    report: Callable[[Path], Any]
    show: Callable[[Any], list[Any]]
    total: Callable[..., dict[str, int]]
    label: Callable[[Any], str] = field(default=lambda scn: scn.kind)


def register(kind: Kind) -> Kind:
    """Make ``kind`` available under its name."""
    return KINDS.add(kind.name, kind)


def get(name: Any, source: str = "<scenario>") -> Kind:
    """The kind called ``name``; a user error naming the allowed kinds if there is none."""
    if name not in KINDS:
        raise ScenarioError(f"{source}: field 'kind' = {name!r}: unknown; allowed: {', '.join(KINDS.names())}")
    return KINDS.get(name)
