"""Grid axes of a sweep: ``key=linspace(a,b,n)``, ``key=v1,v2,...`` or the older ``key=a:b:n``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from seedbed.core.config import ScenarioError, parse_value
from seedbed.backends.meanfield.params import STATIC_FIELDS

@dataclass
class Axis:
    key: str
    values: list[Any]

    def __post_init__(self) -> None:
        # one column type per axis: "0,1.5" is two floats, not an int and a float
        if any(isinstance(v, float) for v in self.values) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values):
            self.values = [float(v) for v in self.values]

    @property
    def numeric(self) -> bool:
        return self.key not in STATIC_FIELDS

def linspace_as_colons(text: str) -> str:
    """``linspace(a,b,n)`` → ``a:b:n`` (the one grid syntax of sweeps and ``seedbed analyze``)."""
    lin = re.fullmatch(r"linspace\((.*)\)", text.replace(" ", ""))
    return ":".join(lin.group(1).split(",")) if lin else text

def parse_axis(spec: str) -> Axis:
    """``key=linspace(start,stop,num)`` (num evenly spaced values, both ends included),
    ``key=v1,v2,...``, or the older ``key=start:stop:num`` (the same as linspace; not a
    Python slice: the stop is included and the third number is a count, not a step)."""
    if "=" not in spec:
        raise ScenarioError(f"--grid {spec!r}: expected key=linspace(start,stop,num) or key=v1,v2,...")
    key, text = (x.strip() for x in spec.split("=", 1))
    text = linspace_as_colons(text)
    if ":" in text:
        parts = text.split(":")
        try:
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        except (ValueError, IndexError):
            raise ScenarioError(f"--grid {spec!r}: expected linspace(start,stop,num) or start:stop:num with numbers, "
                                "e.g. linspace(0,1,21)") from None
        if len(parts) != 3 or num < 1:
            raise ScenarioError(f"--grid {spec!r}: expected linspace(start,stop,num) with num ≥ 1")
        return Axis(key, list(np.linspace(start, stop, num)))
    return Axis(key, [parse_value(v.strip()) for v in text.split(",") if v.strip()])

def _key(v: Any) -> Any:
    return round(v, 12) if isinstance(v, float) else v

# ----------------------------------------------------------------------------- units of work

def _jsonable(v: Any) -> Any:
    return float(v) if isinstance(v, (np.floating, float)) else v
