"""The documentation: its links resolve inside the repository, and the scenario reference is
the one the schema generates (docs/generate_reference.py) and lists every field."""

from __future__ import annotations

import importlib.util
import re
import typing
import types
from pathlib import Path

import pytest
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)       # fenced code blocks
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)          # inline code
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+[\"'(][^)]*)?\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.M)   # [label]: target


def links(text: str) -> list[str]:
    """Targets of the Markdown links and images in ``text``, code blocks and spans left out."""
    text = CODE_SPAN.sub("", FENCE.sub("", text))
    return [m.group(1).strip("<>") for m in (*LINK.finditer(text), *REFERENCE.finditer(text))]


def test_link_parser_finds_links_and_images_and_skips_code():
    text = ('See [a](docs/a.md#x) and ![img](figures/p.png "title") and [b](<b c.md>).\n'
            "`[not](a link)`\n```\n[nor](this)\n```\n[ref]: ../ref.md\n")
    assert links(text) == ["docs/a.md#x", "figures/p.png", "b c.md", "../ref.md"]


def _relative(target: str) -> bool:
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)          # http:, https:, mailto:, ...


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve_inside_the_repository(page: Path):
    bad = []
    for target in links(page.read_text()):
        if not _relative(target):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if not path:                                                     # an anchor in the same page
            continue
        resolved = (page.parent / path).resolve()
        if path.startswith("/") or not resolved.is_relative_to(ROOT):
            bad.append(f"{target}: outside the repository")
        elif not resolved.exists():
            bad.append(f"{target}: no such file or folder")
    assert not bad, f"{page.relative_to(ROOT)}: " + "; ".join(bad)


def _generator():
    spec = importlib.util.spec_from_file_location("generate_reference", DOCS / "generate_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_scenario_reference_is_up_to_date():
    gen = _generator()
    assert (DOCS / "scenario-reference.md").read_text() == gen.render(), \
        "docs/scenario-reference.md is stale: run python docs/generate_reference.py"


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of every field of ``model`` and of the models nested in it (strategies by name)."""
    out = []
    for name, f in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        args = typing.get_args(f.annotation) if typing.get_origin(f.annotation) in (
            typing.Union, types.UnionType, list) else (f.annotation,)
        for t in args:
            for u in (typing.get_args(t) if typing.get_origin(t) is list else (t,)):
                if isinstance(u, type) and issubclass(u, BaseModel):
                    sub = "strategies.<name>." if path == "strategies" else f"{path}."
                    out += _fields(u, sub)
    return out


def test_scenario_reference_lists_every_field_of_every_kind():
    from seedbed.kinds.grading import GradingScenario
    from seedbed.core.kinds import KINDS
    from seedbed.kinds.krueger import KruegerScenario
    from seedbed.core.config import Scenario

    roots = {KINDS.get(name).model for name in KINDS.builtin} | {Scenario, KruegerScenario, GradingScenario}
    text = (DOCS / "scenario-reference.md").read_text()
    rows = set(re.findall(r"^\| `([^`]+)` \|", text, re.M))
    missing = sorted({p for root in roots for p in _fields(root)} - rows)
    assert not missing, f"fields missing from docs/scenario-reference.md: {missing}"
    for root in roots:
        assert f"`{root.__module__}.{root.__name__}`" in text
