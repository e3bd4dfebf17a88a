"""Generate docs/scenario-reference.md from the scenario schema (the pydantic models).

    python docs/generate_reference.py           # rewrite docs/scenario-reference.md
    python docs/generate_reference.py --check   # exit 1 if the file is stale, 0 if up to date

Every section and field of every built-in scenario kind (``seedbed.core.kinds.KINDS``) is read
from the models themselves (``seedbed.core.config.Scenario`` and the models nested in it,
``seedbed.kinds.krueger.KruegerScenario``, ``seedbed.kinds.grading.GradingScenario``): type, default,
allowed range (the Field constraints ge / gt / le / lt / min_length / max_length / pattern,
Literal choices, the built-in selection rules) and description. Nothing about a field is written by hand here, so a field added to
the schema appears in the reference on the next run, and ``tests/test_docs.py`` fails until
the file is regenerated.

Checks that span several fields live in validator functions, not in the schema's data; the
reference lists each one by the error messages it raises (read from its source), which are
the lines a user sees when the check fails.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Iterator

import annotated_types as at
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "scenario-reference.md"

if str(ROOT / "src") not in sys.path:          # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))

from seedbed.core.kinds import KINDS as KIND_REGISTRY  # noqa: E402
from seedbed.core.schema import StrictModel  # noqa: E402
from seedbed.stages.selection import RULES  # noqa: E402

# Section titles of the built-in kinds; a kind registered later is documented under its name.
TITLES = {"pipeline": "Pipeline scenarios", "krueger": "Krueger unit test", "grading": "Grading schedule"}


def kinds() -> list[tuple[str, type[BaseModel], str]]:
    """(title, root model, how a file of this kind starts) for every built-in scenario kind
    (``seedbed.core.kinds.KINDS``: pipeline → seedbed.core.config.Scenario, krueger →
    seedbed.kinds.krueger.KruegerScenario, grading → seedbed.kinds.grading.GradingScenario)."""
    out = []
    for name in KIND_REGISTRY.names():
        if name not in KIND_REGISTRY.builtin:          # registered at run time, not part of the package
            continue
        first = f'kind = "{name}"' + ("  (the default; the line may be left out)" if name == "pipeline" else "")
        out.append((TITLES.get(name, f'Kind "{name}"'), KIND_REGISTRY.get(name).model, first))
    return out


# Where a nested model sits in a TOML file, by the field that holds it.
ARRAY_OF_TABLES = "[[{name}]]"
TABLE = "[{name}]"


# ----------------------------------------------------------------------------- the schema walk

def _unwrap(ann: Any) -> list[Any]:
    """The member types of a union (or the type itself)."""
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        return list(typing.get_args(ann))
    return [ann]


def nested_model(ann: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the model a field holds, whether it is a list of them) or (None, False)."""
    for t in _unwrap(ann):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t, False
        if typing.get_origin(t) is list:
            (arg,) = typing.get_args(t) or (None,)
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg, True
    return None, False


def sections(root: type[BaseModel]) -> Iterator[tuple[str, str, type[BaseModel]]]:
    """(dotted path, TOML header, model) for the root and every model nested in it, in field order."""
    yield "", "top level", root
    seen = {root}

    def walk(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, type[BaseModel]]]:
        for name, f in model.model_fields.items():
            sub, is_list = nested_model(f.annotation)
            if sub is None or sub in seen:
                continue
            seen.add(sub)
            path = f"{prefix}{name}"
            header = (ARRAY_OF_TABLES if is_list else TABLE).format(name=path)
            yield path, header, sub
            yield from walk(sub, path + ".")

    yield from walk(root, "")


# ----------------------------------------------------------------------------- rendering

def type_name(ann: Any) -> str:
    """A short, readable name of a field's type."""
    members = _unwrap(ann)
    if len(members) > 1:
        names = [type_name(t) for t in members if t is not type(None)]
        return " or ".join(names) + (", optional" if type(None) in members else "")
    ann = members[0]
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        names = {type(v).__name__ for v in typing.get_args(ann)}
        return names.pop() if len(names) == 1 else "literal"
    if origin in (list, dict, tuple):
        return f"{origin.__name__}[{', '.join(type_name(a) for a in typing.get_args(ann))}]"
    if ann is typing.Any:
        return "any"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "table"
    return getattr(ann, "__name__", str(ann))


def literal_choices(ann: Any) -> list[Any] | None:
    for t in _unwrap(ann):
        if typing.get_origin(t) is typing.Literal:
            return list(typing.get_args(t))
    return None


def value(v: Any) -> str:
    """A value as it is written in a TOML file."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{value(k)} = {value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    return repr(v)


def default(f: Any, holder: str) -> str:
    if f.is_required():
        return "required"
    if f.default_factory is not None:
        v = f.default_factory()
    else:
        v = f.default
    if isinstance(v, BaseModel):
        return f"its fields' defaults (see `{holder}`)"
    if v is None:
        return "unset"
    if v is PydanticUndefined:
        return "required"
    return f"`{value(v)}`"


def allowed(model: type[BaseModel], name: str, f: Any) -> str:
    """The range the schema enforces on one field."""
    parts: list[str] = []
    choices = literal_choices(f.annotation)
    if choices is not None:
        parts.append(" or ".join(f"`{value(c)}`" for c in choices))
    if model.__name__ == "Selection" and name == "rule":
        builtin = [n for n in RULES.names() if n in RULES.builtin]
        parts.append(" or ".join(f"`{value(n)}`" for n in builtin) + ", or a rule you registered")
    bounds: list[str] = []
    unit = "character" if type_name(f.annotation).startswith("str") else "entry"
    for m in f.metadata:
        if isinstance(m, at.Ge):
            bounds.insert(0, f"≥ {number(m.ge)}")
        elif isinstance(m, at.Gt):
            bounds.insert(0, f"> {number(m.gt)}")
        elif isinstance(m, at.Le):
            bounds.append(f"≤ {number(m.le)}")
        elif isinstance(m, at.Lt):
            bounds.append(f"< {number(m.lt)}")
        elif isinstance(m, at.MinLen):
            parts.append(f"at least {m.min_length} {unit}{'' if m.min_length == 1 else 's'}")
        elif isinstance(m, at.MaxLen):
            parts.append(f"at most {m.max_length} {unit}{'' if m.max_length == 1 else 's'}")
        elif getattr(m, "pattern", None):
            parts.append(f"matches `{m.pattern}`")
    if bounds:
        parts.insert(0, ", ".join(bounds))
    return "; ".join(parts) if parts else "any"


def number(x: float | int) -> str:
    """A bound as written in a file: 10000000, 0.5, 0."""
    if isinstance(x, int) or float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def cell(text: str) -> str:
    """Text fit for one table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def docstring(model: type[BaseModel]) -> list[str]:
    """The model's docstring as Markdown: prose paragraphs, indented blocks as code.
    References to internal notes are dropped (users have only this repository)."""
    own = model.__dict__.get("__doc__")           # not an inherited docstring
    if not own:
        return []
    doc = inspect.cleandoc(own)
    doc = re.sub(r"\s*\(DESIGN(?:\.md)?\s*§[^)]*\)", "", doc)
    out: list[str] = []
    for para in doc.split("\n\n"):
        lines = para.split("\n")
        if all(ln.startswith("    ") for ln in lines if ln.strip()):
            out += ["```", *(ln[4:] for ln in lines), "```", ""]
        else:
            out += [" ".join(ln.strip() for ln in lines), ""]
    return out


def docstring_text(model: type) -> list[str]:
    """A one-paragraph class docstring as text lines ("Every section: ...")."""
    doc = " ".join(inspect.cleandoc(model.__doc__ or "").split())
    doc = re.sub(r"^A schema section: ", "", doc)
    return [f"Every section: {doc[0].lower()}{doc[1:]}"] if doc else []


def validator_messages(func: Any) -> list[str]:
    """The error messages a validator raises (``raise ValueError(...)``), read from its source:
    the text a user sees when the check fails, with the values it reports shown as '…'."""
    func = getattr(func, "__func__", func)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return []
    out: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args):
            continue
        arg = node.exc.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            text = arg.value
        elif isinstance(arg, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "…" for v in arg.values)
        else:
            continue
        if text not in out:
            out.append(text)
    return out


def checks(model: type[BaseModel]) -> list[str]:
    """What the model's own validators refuse, as the messages they raise."""
    dec = model.__pydantic_decorators__
    lines = []
    for name, d in [*dec.model_validators.items(), *dec.field_validators.items()]:
        if name not in model.__dict__:                  # inherited: documented with its own model
            continue
        fields = getattr(d.info, "fields", ()) or ()
        where = ", ".join(f"`{f}`" for f in fields)
        msgs = validator_messages(d.func) or [f"see `{model.__module__}.{model.__name__}.{name}`"]
        lines += [f"- {where + ': ' if where else ''}{cell(m)}" for m in msgs]
    return ["Also checked by validators (the message a failing check prints; values shown as …):",
            "", *lines, ""] if lines else []


def field_path(path: str, name: str, model: type[BaseModel]) -> str:
    if model.__name__ == "Strategy":
        return f"strategies.<name>.{name}"
    return f"{path}.{name}" if path else name


def render() -> str:
    lines = [
        "<!-- GENERATED by docs/generate_reference.py from the pydantic schema. Do not edit by hand: run",
        "     `python docs/generate_reference.py` (tests/test_docs.py fails while this file is stale). -->",
        "",
        "# Scenario reference",
        "",
        "Every field a scenario file can set, read from the schema itself (`src/seedbed/config.py`,",
        "`src/seedbed/krueger.py`, `src/seedbed/grading.py`). A scenario is one TOML file; the",
        "`kind` field picks the schema. *Allowed* is what validation enforces; a value outside it stops",
        "the run with one line naming the file, the field, the value and what is allowed (exit status 2).",
        "",
        *[line for line in docstring_text(StrictModel)],
        "",
        "Any field can be overridden from the command line or the Python API by its dotted path,",
        "`--set judge.bonus=2` or `load_scenario(\"seed\", {\"judge.bonus\": 2})`; strategies are",
        "addressed by name, `--set strategies.B.err=0.3`. Values are TOML literals (`0.5`, `true`,",
        "`\"text\"`; a bare word such as `best_of_n` is read as a string).",
        "",
        "The meaning of the fields (equations, what each backend does with them) is in",
        "[the model](model.md).",
        "",
        "Contents:",
        "",
    ]
    body: list[str] = []
    for title, root, first_line in kinds():
        anchor = re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
        lines.append(f"- [{title}](#{anchor}) (`{root.__module__}.{root.__name__}`)")
        body += [f"## {title}", "", f"`{root.__module__}.{root.__name__}`; a file starts with `{first_line}`.", ""]
        body += docstring(root)
        for path, header, model in sections(root):
            name = model.__name__
            if path:
                body += [f"### `{header}`", "", f"`{model.__module__}.{name}`", ""]
                body += docstring(model)
            else:
                body += ["### Top level", ""]
            body += checks(model)
            body += ["| field | type | default | allowed | description |", "|---|---|---|---|---|"]
            for fname, f in model.model_fields.items():
                sub, is_list = nested_model(f.annotation)
                if sub is not None:
                    header_of = (ARRAY_OF_TABLES if is_list else TABLE).format(name=field_path(path, fname, model))
                    typ = f"array of tables `{header_of}`" if is_list else f"table `{header_of}`"
                else:
                    typ = type_name(f.annotation)
                desc = f.description or ""
                holder = (ARRAY_OF_TABLES if is_list else TABLE).format(name=field_path(path, fname, model))
                body.append(f"| `{field_path(path, fname, model)}` | {cell(typ)} | {cell(default(f, holder))} | "
                            f"{cell(allowed(model, fname, f))} | {cell(desc) or '—'} |")
            body.append("")
    return "\n".join(lines + [""] + body).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/scenario-reference.md is stale")
    args = ap.parse_args(argv)
    text = render()
    current = OUT.read_text() if OUT.exists() else None
    if args.check:
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python docs/generate_reference.py", file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(ROOT)} is up to date")
        return 0
    if current != text:
        OUT.write_text(text)
        print(f"wrote {OUT.relative_to(ROOT)}")
    else:
        print(f"{OUT.relative_to(ROOT)} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
