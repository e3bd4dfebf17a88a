"""Named registries for the pluggable stages: selection rules, backends, scenario kinds.

A registry maps a name to an object. Built-in entries are listed by the module that
defines them and imported on first lookup, so a registry can be consulted (to validate
a scenario field, say) without importing the heavy modules behind it, and nothing is
registered as a side effect of importing seedbed. User code registers its own entries
with :meth:`Registry.register` (a decorator) before running a scenario that names them.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, TypeVar

from seedbed.core.schema import ScenarioError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → object, with lazily imported built-ins."""

    def __init__(self, what: str, builtin: dict[str, str]):
        self.what = what                   # e.g. "selection rule", for error messages
        self.builtin = dict(builtin)       # name → module that registers it when imported
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (a later registration replaces an earlier one)."""
        def deco(obj: T) -> T:
            self._items[name] = obj
            return obj
        return deco

    def add(self, name: str, obj: T) -> T:
        self._items[name] = obj
        return obj

    def remove(self, name: str) -> None:
        """Forget a registered (non-built-in) entry, e.g. at the end of a test."""
        self._items.pop(name, None)

    def __contains__(self, name: Any) -> bool:
        return isinstance(name, str) and (name in self._items or name in self.builtin)

    def get(self, name: Any, source: str = "") -> T:
        """The entry called ``name``; a user error listing the available names if there is none."""
        if isinstance(name, str) and name not in self._items and name in self.builtin:
            importlib.import_module(self.builtin[name])
        if not isinstance(name, str) or name not in self._items:
            where = f"{source}: " if source else ""
            raise ScenarioError(f"{where}unknown {self.what} {name!r}; available: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        """Built-in names in their listed order, then names registered since, in order."""
        return list(self.builtin) + [n for n in self._items if n not in self.builtin]


# The registry of selection rules lives here, below the schema that validates
# ``selection.rule`` against it; the rules themselves are :mod:`seedbed.stages.selection`.
RULES: Registry[Any] = Registry("selection rule", {name: "seedbed.stages.selection.rules" for name in (
    "threshold", "best_of_n", "top_fraction", "reward_weighted", "critique_revision")})

# Credit rules (``judge.credit``): how a multi-turn episode's per-turn rewards become the return
# that selection ranks; the rules are :mod:`seedbed.stages.credit`. 'last_turn' and 'transcript'
# are seedbed's older names for 'last' and 'discounted'.
CREDIT: Registry[Any] = Registry("credit rule", {name: "seedbed.stages.credit" for name in (
    "last", "sum", "discounted", "discounted_final", "turn_delta", "score_shaping", "last_turn", "transcript")})
