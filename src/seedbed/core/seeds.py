"""Randomness: one root seed per run, split as a tree (``numpy.random.SeedSequence``).

A run repeats each arm over ``seeds`` repetition seeds, spawned from the root seed (one
repetition uses the root seed itself). Within a repetition every random stream is a
named child of that seed: ``Streams(seed).rng("scenario", "round", 3)`` is the stream of
round 3 of the scenario arm. A child's key is its path in the tree, so a stream does not
depend on how many others were drawn before it, and a resumed run (or one sweep point
run alone) draws exactly what the full run draws.
"""

from __future__ import annotations

import zlib

import numpy as np


def repetition_seeds(root: int, count: int) -> list[int]:
    """``count`` independent seeds from one root seed: the root itself when count = 1, else
    the first 32-bit word of each of ``count`` spawned children."""
    if count == 1:
        return [int(root)]
    children = np.random.SeedSequence(root).spawn(count)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def _key(part: str | int) -> int:
    """A path component as a spawn-key integer: ints as they are, names by their CRC-32."""
    if isinstance(part, (bool, np.bool_)):
        return int(part)
    if isinstance(part, (int, np.integer)):
        if part < 0:
            raise ValueError(f"stream path components must be non-negative, got {part}")
        return int(part)
    return zlib.crc32(str(part).encode())


class Streams:
    """The named random streams under one seed (a node of the seed tree)."""

    def __init__(self, seed: int, path: tuple[str | int, ...] = ()):
        self.seed = int(seed)
        self.path = tuple(path)

    def child(self, *path: str | int) -> "Streams":
        """The subtree at ``path`` below this node."""
        return Streams(self.seed, self.path + path)

    def sequence(self, *path: str | int) -> np.random.SeedSequence:
        """The SeedSequence at ``path`` below this node."""
        return np.random.SeedSequence(self.seed, spawn_key=tuple(_key(p) for p in self.path + path))

    def rng(self, *path: str | int) -> np.random.Generator:
        """A generator for the stream at ``path`` below this node."""
        return np.random.default_rng(self.sequence(*path))

    def int_seed(self, *path: str | int) -> int:
        """A 63-bit integer seed for libraries that take one (torch), from the stream at ``path``."""
        hi, lo = (int(x) for x in self.sequence(*path).generate_state(2, dtype=np.uint32))
        return ((hi & 0x7FFFFFFF) << 32) | lo                      # 63 bits, exact integer arithmetic
