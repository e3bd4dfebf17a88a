"""The lineage log of a population: init, exploit and explore events, one JSON line each.

Written as the population loop (:mod:`seedbed.backends.population`) makes its decisions, read back
by reports and plots, and followed by a population run with a ``schedule``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Lineage:
    """Append-only lineage events, mirrored to a JSON-lines file when ``path`` is set."""

    path: Path | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def write(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps(event, sort_keys=True) + "\n")
                f.flush()


def read_lineage(path: str | Path) -> list[dict[str, Any]]:
    """Events of a lineage file, in the order they were written."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def lineage_table(events: list[dict[str, Any]]):
    """Exploit events as a pyarrow table: arm, seed, round, member, parent, fitness values."""
    import pyarrow as pa
    ex = [e for e in events if e["event"] == "exploit"]
    cols = ["arm", "seed", "round", "member", "parent", "member_fitness", "parent_fitness"]
    return pa.table({c: [e[c] for e in ex] for c in cols})
