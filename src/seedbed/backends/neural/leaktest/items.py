"""Eval items and their twins: fresh items from the same generator.

An item is a dict with at least ``question`` and ``answer`` (strings); any other fields are
the generator's own (the built-in addition problems carry ``a``, ``b``, ``max_number`` and
``style``). A twin generator is a callable ``(item, rng) -> twin`` that draws a fresh item of
the same kind as ``item`` from ``rng`` (a ``numpy.random.Generator``): the twin test needs the
twins to come from the distribution the eval items were drawn from, and nothing more.

Two prompt styles, picked from the tokenizer (:func:`style_of`):

* ``plain``: seedbed's tiny model speaks ``Q:<question>\\nA:<answer>\\n`` (its task's format);
  the built-in question is ``a+b``;
* ``chat``: a model with a chat template gets the user turn ``<question>`` and the assistant
  turn ``<answer>``; the built-in question is the Inspect tasks' ``What is a + b? Reply with
  the number only.`` (:data:`seedbed.backends.neural.problems.QUESTION`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seedbed.core.schema import ScenarioError

Item = dict[str, Any]
TwinGenerator = Callable[[Item, np.random.Generator], Item]

DEFAULT_ITEMS = 100          # the built-in eval tasks' default size (seedbed.evals.tasks)
DEFAULT_MAX_NUMBER = 20      # and their default operand range
TRIES = 1000                 # draws per twin before a generator is declared unable to make a fresh one


def style_of(tok: Any) -> str:
    """``chat`` for a tokenizer with a chat template, else ``plain`` (the tiny model's format)."""
    from seedbed.backends.neural.model import has_chat_template

    return "chat" if has_chat_template(tok) else "plain"


def addition_question(a: int, b: int, style: str) -> str:
    """The built-in question a + b in ``style``."""
    from seedbed.backends.neural.problems import QUESTION

    return f"{a}+{b}" if style == "plain" else QUESTION.format(a=a, b=b)


def addition_item(a: int, b: int, max_number: int, style: str) -> Item:
    return {"question": addition_question(a, b, style), "answer": str(a + b), "a": int(a), "b": int(b),
            "max_number": int(max_number), "style": style}


def addition_items(n: int = DEFAULT_ITEMS, seed: int = 0, max_number: int = DEFAULT_MAX_NUMBER,
                   style: str = "plain") -> list[Item]:
    """The built-in eval items: :func:`seedbed.backends.neural.problems.problems` (the Inspect tasks'
    problems for the same ``n``, ``seed`` and ``max_number``) in ``style``."""
    from seedbed.backends.neural.problems import problems

    return [addition_item(a, b, max_number, style) for a, b in problems(n, seed, max_number)]


def stratum(a: int, b: int) -> tuple[int, int, int]:
    """An addition problem's stratum: the digit counts of a, b and a + b. A twin is a control
    for its item only if it is as hard to read and to answer (a two-digit sum is not a
    one-digit one), so twins are drawn within the item's stratum."""
    return len(str(int(a))), len(str(int(b))), len(str(int(a) + int(b)))


def addition_twin(item: Item, rng: np.random.Generator) -> Item:
    """A fresh addition problem from the built-in generator in the item's stratum: a, b uniform
    in [0, max_number), redrawn until their digit counts and their sum's match the item's
    (:func:`stratum`) and the problem is not the item itself. A stratum that holds no other
    problem within ``TRIES`` draws (in a tiny range, 5+5 may be the only two-digit sum) falls
    back to the whole range."""
    n, style = int(item["max_number"]), item.get("style", "plain")
    own = (int(item["a"]), int(item["b"])) if "a" in item and "b" in item else None
    for _ in range(TRIES if own is not None else 1):
        a, b = (int(x) for x in rng.integers(0, n, size=2))
        if own is None or ((a, b) != own and stratum(a, b) == stratum(*own)):
            return addition_item(a, b, n, style)
    a, b = (int(x) for x in rng.integers(0, n, size=2))
    return addition_item(a, b, n, style)


def make_twins(items: list[Item], generator: TwinGenerator, k: int, rng: np.random.Generator) -> list[list[Item]]:
    """``k`` twins per item, none of which asks one of the eval items' questions (a twin that
    is itself an eval item would carry the same leak). Raises ScenarioError when the
    generator returns something that is not an item, or cannot make a fresh twin."""
    taken = {str(it["question"]) for it in items}
    out: list[list[Item]] = []
    for i, item in enumerate(items):
        twins: list[Item] = []
        for _ in range(TRIES * k):
            if len(twins) == k:
                break
            t = generator(dict(item), rng)
            check_item(t, f"twin of item {i}")
            if str(t["question"]) not in taken:
                twins.append(t)
        if len(twins) < k:
            raise ScenarioError(f"twin generator: after {TRIES * k} draws only {len(twins)} of {k} twins of item {i} "
                                "are not themselves eval items (the generator's range is too small)")
        out.append(twins)
    return out


def check_item(x: Any, where: str) -> None:
    if not isinstance(x, dict) or not isinstance(x.get("question"), str) or not isinstance(x.get("answer"), str):
        raise ScenarioError(f"{where}: an item must be a dict with string fields 'question' and 'answer', "
                            f"got {type(x).__name__}" + (f" with keys {sorted(x)}" if isinstance(x, dict) else ""))


def read_eval_set(path: str | Path) -> list[Item]:
    """A user's eval set: JSONL, one object per line with ``question`` (or ``input`` /
    ``prompt``) and ``answer`` (or ``target``) strings; every other field is kept for the
    twin generator."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"{p}: no such file")
    items: list[Item] = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{p}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ScenarioError(f"{p}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise ScenarioError(f"{p}:{n}: a JSON {type(rec).__name__} where an object was expected")
        q = next((rec[k] for k in ("question", "input", "prompt") if isinstance(rec.get(k), str)), None)
        a = next((rec[k] for k in ("answer", "target") if isinstance(rec.get(k), (str, int, float))), None)
        if q is None or a is None:
            raise ScenarioError(f"{p}:{n}: needs a 'question' (or 'input', 'prompt') and an 'answer' (or 'target') field")
        items.append({**rec, "question": q, "answer": str(a)})
    if not items:
        raise ScenarioError(f"{p}: no items (the file is empty)")
    return items


def user_generator(spec: str) -> TwinGenerator:
    """``module:function`` imported from the working directory (a twin generator)."""
    from seedbed.stages.judge import load_function

    if ":" not in spec:
        raise ScenarioError(f"--twins {spec!r}: expected module:function")
    return load_function(spec, "--twins")
