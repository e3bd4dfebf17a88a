"""The base of every scenario schema: the strict pydantic model, the user-error type and
the fields all scenario kinds share.

It imports nothing from seedbed, so the pipeline schema (:mod:`seedbed.core.config`) and the
other kinds (:mod:`seedbed.kinds.krueger`, :mod:`seedbed.kinds.grading`) can all build on it without
importing each other.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class ScenarioError(ValueError):
    """A user mistake in a scenario file, an override or a flag; the message is the whole story."""


class StoppedRun(ScenarioError):
    """A run stopped by its surroundings, not by its input (a full disk, an interrupt): one
    line like any user error, but the run folder is kept, whole files only, so that
    ``--resume`` continues it."""


NO_SPACE = (28, 122)        # errno ENOSPC, EDQUOT


def no_space(e: BaseException) -> bool:
    """Whether an error is a full disk (an OSError's errno, or a library's message of one)."""
    return (isinstance(e, OSError) and e.errno in NO_SPACE) or "No space left on device" in str(e)


class StrictModel(BaseModel):
    """A schema section: unknown fields are refused, assignments are validated, and every
    number must be finite (NaN and infinity are refused wherever a float is read)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)


class Origin(BaseModel):
    """Where a scenario came from: its file (or preset) and the overrides applied on top,
    in order. Reports list the overrides, so a run says how it differs from the preset."""

    source: str = ""
    overrides: dict[str, Any] = Field(default_factory=dict)


class Traced(StrictModel):
    """A top-level scenario: carries its :class:`Origin` (not a field; never validated or dumped)."""

    _origin: Origin = PrivateAttr(default_factory=Origin)

    @property
    def origin(self) -> Origin:
        return self._origin

    def __eq__(self, other: object) -> bool:
        """Equal when every field is equal; where a scenario came from does not matter."""
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]   (mutable, like any pydantic model)

    def traced(self, source: str, overrides: dict[str, Any]) -> "Traced":
        self._origin = Origin(source=source, overrides=dict(overrides))
        return self


# A scenario name becomes part of default output paths: a plain name, no separators.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME_FIELD = dict(min_length=1, max_length=100, pattern=NAME_PATTERN,
                  description="A plain name (letters, digits, '_', '-', '.'; it names default output folders).")


class KindScenario(Traced):
    """Fields every non-pipeline scenario kind shares; subclasses add their settings section."""

    name: str = Field(**NAME_FIELD)
    description: str = ""
    shows: str = ""
    seed: int = Field(default=0, ge=0, description="Root seed; every random stream is split from it.")
