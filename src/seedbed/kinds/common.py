"""What the non-pipeline kinds (:mod:`.krueger`, :mod:`.grading`) share: their result
object and running into a claimed folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from seedbed.results.folders import claim

from seedbed.core.schema import ScenarioError


@dataclass
class KindResult:
    """A finished run of a non-pipeline kind: its scenario, its summary and its folder."""

    scenario: Any
    summary: Any
    out: Path


def run_into_folder(scn: Any, out: Path | None, progress: Any, label: str, write: Callable[..., Any],
                    resume: bool, force: bool, options: dict[str, Any]) -> KindResult:
    """Run a non-pipeline kind: refuse pipeline-only options, claim the folder (default
    ``runs/<name>/agent``), and call ``write(scn, out, tick)`` with a progress tick that
    reports under ``label``."""
    refuse_options(scn.kind, options)
    out = Path(out) if out is not None else Path("runs") / scn.name / "agent"
    tick = (lambda k: progress(label, k, None)) if progress else None
    with claim(out, f"a {scn.kind} run of {scn.name}", {"kind": scn.kind, "scenario": scn.model_dump(mode="json")},
               resume, force):
        return KindResult(scn, write(scn, out, tick), out)


def refuse_options(kind: str, options: dict[str, Any]) -> None:
    """Kinds other than pipeline run one way: refuse pipeline-only options that were given."""
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        flags = ", ".join(f"--{k}" for k in given)
        raise ScenarioError(f"{flags}: not used by scenarios of kind {kind!r} (always sampled, one process)")
