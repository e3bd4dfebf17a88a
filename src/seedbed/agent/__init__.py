"""Agent-based backend: the same scenarios, sampled (DESIGN.md §4)."""

from .sim import RoundSampler, Batch

__all__ = ["RoundSampler", "Batch"]
