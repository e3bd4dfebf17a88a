"""Exact mean-field backend: expected dynamics of strategy shares (DESIGN.md §3)."""

from seedbed.backends.meanfield.model import MeanField, Trajectory
from seedbed.backends.meanfield.params import MFParams

__all__ = ["MeanField", "MFParams", "Trajectory"]
