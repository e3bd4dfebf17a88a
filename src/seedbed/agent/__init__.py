"""Agent-based backend: the same scenarios, sampled (DESIGN.md §4)."""

from .sim import AgentRound, Batch

__all__ = ["AgentRound", "Batch"]
