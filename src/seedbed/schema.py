"""The base of every scenario schema: the strict pydantic model, the user-error type and
the fields all scenario kinds share.

It imports nothing from seedbed, so the pipeline schema (:mod:`seedbed.config`) and the
other kinds (:mod:`seedbed.krueger`, :mod:`seedbed.grading`) can all build on it without
importing each other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ScenarioError(ValueError):
    """A user mistake in a scenario file, an override or a flag; the message is the whole story."""


class StrictModel(BaseModel):
    """A schema section: unknown fields are refused and assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class KindScenario(StrictModel):
    """Fields every non-pipeline scenario kind shares; subclasses add their settings section."""

    name: str = Field(min_length=1)
    description: str = ""
    shows: str = ""
    seed: int = Field(default=0, ge=0, description="Root seed; every random stream is split from it.")
