"""Exact mean-field backend: expected dynamics of strategy shares (DESIGN.md §3)."""

from .model import MeanField, Trajectory
from .params import MFParams

__all__ = ["MeanField", "MFParams", "Trajectory"]
