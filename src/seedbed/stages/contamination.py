"""Contamination guard: keep eval and probe items out of self-generated training data (DESIGN.md §6).

Four checks, each catching a different kind of leak, any one of which marks an item:

* canary: every probe and eval item seedbed writes carries the project's canary string
  (in its record, e.g. the Inspect sample's metadata); any training text containing it leaks;
* long n-gram overlap: a shared run of 13 words (the usual test-set-contamination check);
* long substring: a shared run of 50 characters (catches text with its words re-spaced);
* normalised template: the same item re-worded with other numbers or names (numbers and
  capitalised names replaced by placeholders, case and punctuation folded). This is for
  natural-language items; a task whose every item shares one template (the arithmetic task)
  turns it off and matches items exactly after normalisation instead.

``Guard.filter`` drops leaked items and counts them, so pipelines report how many leaks
they removed (metric ``contamination/dropped``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CANARY = "seedbed-canary 3f9c2a7e-5b1d-4e8a-9c6f-2d5e8b1a0c47"
NGRAM = 13
SUBSTRING = 50

_NUM = re.compile(r"\d+(?:[.,]\d+)?")
_NAME = re.compile(r"\b[A-Z][a-z]+\b")              # names (and sentence-initial words: both sides alike)
_WORD = re.compile(r"[a-z0-9<>]+")


def normalise(text: str) -> str:
    """Fold case, punctuation and white space: 'Q:  12+7 ?' and 'q: 12 + 7' are one item."""
    return " ".join(_WORD.findall(text.lower()))


def template(text: str) -> str:
    """The item with numbers and names replaced by placeholders (after normalising)."""
    t = _NAME.sub("<name>", text.strip())
    t = _NUM.sub("<num>", t)
    return normalise(t)


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = normalise(text).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@dataclass
class Guard:
    """Holds the protected items (probes, eval sets) and checks candidate training items."""

    protected: list[str]
    use_template: bool = True
    n: int = NGRAM
    substring: int = SUBSTRING
    dropped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._grams = set().union(*(ngrams(p, self.n) for p in self.protected)) if self.protected else set()
        self._norm = {normalise(p) for p in self.protected}
        self._templates = {template(p) for p in self.protected} if self.use_template else set()
        # every window of `substring` characters of the protected texts (normalised spacing)
        flat = [re.sub(r"\s+", " ", p) for p in self.protected]
        self._subs = {f[i:i + self.substring] for f in flat for i in range(len(f) - self.substring + 1)}

    def why(self, item: str) -> str | None:
        """The first check the item fails, or None if it is clean."""
        if CANARY in item:
            return "canary"
        if normalise(item) in self._norm:
            return "exact"
        if self._grams and ngrams(item, self.n) & self._grams:
            return "ngram"
        flat = re.sub(r"\s+", " ", item)
        if self._subs and any(flat[i:i + self.substring] in self._subs for i in range(len(flat) - self.substring + 1)):
            return "substring"
        if self.use_template and template(item) in self._templates:
            return "template"
        return None

    def leaks(self, items: list[str]) -> list[dict]:
        """Every leaked item with the check that caught it: {index, item, check}."""
        return [{"index": i, "item": it, "check": why} for i, it in enumerate(items) if (why := self.why(it))]

    def filter(self, items: list[str]) -> tuple[list[int], dict[str, int]]:
        """Indices of clean items, and counts of dropped items by reason (also accumulated)."""
        keep, counts = [], {}
        for i, it in enumerate(items):
            reason = self.why(it)
            if reason is None:
                keep.append(i)
            else:
                counts[reason] = counts.get(reason, 0) + 1
                self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return keep, counts


def with_canary(item: dict) -> dict:
    """An eval/probe record with the canary in its metadata."""
    meta = dict(item.get("metadata", {}))
    meta["canary"] = CANARY
    return {**item, "metadata": meta}


def read_items(path, mark_canary: bool = True) -> list[str]:
    """Items of a JSONL file (field input / text / prompt / question, or chat messages joined) or
    of a plain text file (one item per line). With ``mark_canary`` a record whose metadata
    carries the canary keeps it in its text, so the canary check sees it (candidate training
    items); protected items are read without it."""
    import json
    from pathlib import Path

    from seedbed.core.config import ScenarioError

    p = Path(path)
    if not p.exists():
        raise ScenarioError(f"{p}: no such file")
    if not p.is_file():
        raise ScenarioError(f"{p}: not a file")
    try:
        text_lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{p}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise ScenarioError(f"{p}: cannot be read ({e.strerror})") from None
    items = []
    for n, line in enumerate(text_lines, 1):
        if not line.strip():
            continue
        if p.suffix in (".jsonl", ".json"):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ScenarioError(f"{p}:{n}: not valid JSON ({e.msg})") from None
            if isinstance(rec, str):
                items.append(rec)
                continue
            if not isinstance(rec, dict):
                raise ScenarioError(f"{p}:{n}: a JSON {type(rec).__name__} where an object or a string was expected "
                                    "(fields read: input, text, prompt, question, messages)")
            text = next((rec[k] for k in ("input", "text", "prompt", "question") if isinstance(rec.get(k), str)), None)
            msgs = rec.get("messages") or rec.get("input")
            if text is None and isinstance(msgs, list) and all(isinstance(m, dict) for m in msgs):
                text = "\n".join(str(m.get("content", "")) for m in msgs)
            if text is None:
                raise ScenarioError(f"{p}:{n}: no 'input', 'text', 'prompt', 'question' or 'messages' field")
            meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
            items.append(text + (f" {CANARY}" if mark_canary and meta.get("canary") == CANARY else ""))
        else:
            items.append(line)
    if not items:
        raise ScenarioError(f"{p}: no items (the file is empty)")
    return items
