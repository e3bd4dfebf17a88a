"""Agent-based backend: the same scenarios, sampled (DESIGN.md §4)."""

from seedbed.backends.agent.sim import RoundSampler, Batch

__all__ = ["RoundSampler", "Batch"]
