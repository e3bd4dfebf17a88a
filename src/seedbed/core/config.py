"""Scenario files: validated configuration for one complete, named setup.

A scenario is a TOML file (see ``scenarios/``) parsed into the pydantic model
:class:`Scenario`. Every field a user can get wrong is checked here, and a bad file
raises :class:`ScenarioError` naming the file, the field, the value and what is
allowed, so the CLI can print one line instead of a traceback.

The sections of the pipeline schema are :mod:`seedbed.core.sections`; this module holds the
whole scenario, loading and overrides. Overrides (``--set key=value``) address fields by dotted path; strategies are
addressed by name, e.g. ``strategies.B.err=0.4`` or ``prompts.phi=0``.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from seedbed.core.schema import NAME_FIELD, KindScenario, ScenarioError, Traced
from seedbed.core.sections import (Agent, Control, Judge, Neural, Population, Prompts, Selection, Strategy,  # noqa: F401
                                   Update)

__all__ = ["KindScenario", "Scenario", "ScenarioError", "load_scenario"]


class Scenario(Traced):
    """One complete, named setup of the training pipeline (kind = "pipeline")."""

    kind: Literal["pipeline"] = "pipeline"
    name: str = Field(**NAME_FIELD)
    description: str = ""
    shows: str = Field(default="", description="One line: what this preset demonstrates.")
    seed: int = Field(default=0, ge=0, description="Root seed; every random stream is split from it.")
    rounds: int = Field(default=30, ge=1, le=100_000)
    strategies: list[Strategy] = Field(min_length=1)
    judge: Judge = Field(default_factory=Judge)
    prompts: Prompts = Field(default_factory=Prompts)
    selection: Selection
    update: Update = Field(default_factory=Update)
    population: Population = Field(default_factory=Population)
    agent: Agent = Field(default_factory=Agent)
    neural: Neural = Field(default_factory=Neural)
    control: Control = Field(default_factory=Control)
    focus: str | None = Field(default=None, description="Strategy whose share the verdict is about (the seeder).")
    behaviour: str = Field(default="seeding", min_length=1,
                           description="What the focus strategy stands for, as the verdict names it.")

    @model_validator(mode="after")
    def _check_strategies(self) -> "Scenario":
        names = [s.name for s in self.strategies]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"strategy names must be unique; repeated: {sorted(dup)}")
        given = sum(s.share for s in self.strategies if s.share is not None)
        missing = [s for s in self.strategies if s.share is None]
        if given > 1.0 + 1e-9:
            raise ValueError(f"strategy shares sum to {given:g}; they must sum to 1")
        if not missing and abs(given - 1.0) > 1e-6:
            raise ValueError(f"strategy shares sum to {given:g}; they must sum to 1")
        if self.focus is not None and self.focus not in names:
            raise ValueError(f"focus = {self.focus!r} is not a strategy; strategies are {names}")
        return self

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.strategies]

    @property
    def shares(self) -> list[float]:
        """Initial shares, with omitted ones splitting the remainder equally."""
        given = sum(s.share for s in self.strategies if s.share is not None)
        missing = [s for s in self.strategies if s.share is None]
        rest = (1.0 - given) / len(missing) if missing else 0.0
        return [s.share if s.share is not None else rest for s in self.strategies]

    @property
    def seeder(self) -> str:
        """The strategy the verdict follows: ``focus``, else the most reflexive corrector."""
        if self.focus is not None:
            return self.focus
        return max(self.strategies, key=lambda s: (s.fix * s.err + s.false_fix, s.err)).name

    def with_overrides(self, overrides: dict[str, Any], source: str = "<override>") -> "Scenario":
        """Return a new validated scenario with dotted-path overrides applied."""
        raw = self.model_dump(mode="python")
        for key, value in overrides.items():
            _set_path(raw, key, value, source)
        return _validate(raw, source).traced(self.origin.source, {**self.origin.overrides, **overrides})

    def control_scenario(self) -> "Scenario":
        """The same scenario with the control's overrides: the outer loop switched off."""
        return self.with_overrides(self.control.set, source=f"{self.name} [control]").model_copy(
            update={"name": f"{self.name}-control"})


# ----------------------------------------------------------------------------- loading

def scenario_dir() -> Path:
    """Folder of the presets shipped with the package (``scenarios/`` in the repo)."""
    return Path(str(resources.files("seedbed") / "scenarios"))


def list_presets() -> list[Path]:
    return sorted(scenario_dir().glob("*.toml"))


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """A path to a TOML file, or the name of a shipped preset (``seed`` → scenarios/seed.toml)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise ScenarioError(f"{p}: no such scenario file")
        if not p.is_file():
            raise ScenarioError(f"{p}: is a folder, not a scenario file (give a .toml file or a preset name)")
        return p
    preset = scenario_dir() / f"{p.name}.toml"
    if preset.exists():
        return preset
    names = ", ".join(x.stem for x in list_presets())
    raise ScenarioError(f"{name_or_path}: not a file and not a preset; presets are: {names}")


def load_scenario(name_or_path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> Scenario:
    """Load, override and validate a scenario. Raises :class:`ScenarioError` on any user mistake."""
    path = resolve_scenario_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{path}: not UTF-8 text, so not TOML (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise ScenarioError(f"{path}: cannot be read ({e.strerror or e})") from None
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    model = scenario_model(raw.get("kind", "pipeline"), str(path))
    for key, value in (overrides or {}).items():
        _set_path(raw, key, value, str(path), model)
    source = path.stem if path.parent == scenario_dir() else str(path)
    return _validate(raw, str(path), model).traced(source, overrides or {})


def scenario_model(kind: Any, source: str) -> type[BaseModel]:
    """The schema of a scenario kind (see :mod:`seedbed.core.kinds`)."""
    if kind == "pipeline":
        return Scenario
    from seedbed.core.kinds import get
    return get(kind, source).model


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings; values are TOML literals (numbers, true/false, "strings")."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ScenarioError(f"--set {item!r}: expected key=value, e.g. prompts.phi=0.5")
        key, text = item.split("=", 1)
        out[key.strip()] = parse_value(text.strip())
    return out


def parse_value(text: str) -> Any:
    """A TOML literal, or the bare text as a string (so ``rule=best_of_n`` works unquoted)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_path(raw: dict[str, Any], key: str, value: Any, source: str, model: type[BaseModel] | None = None) -> None:
    parts = key.split(".")
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):  # strategies, addressed by name
            match = [s for s in node if isinstance(s, dict) and s.get("name") == part]
            if not match:
                names = [s.get("name") for s in node if isinstance(s, dict)]
                raise ScenarioError(f"{source}: override {key!r}: no strategy named {part!r}; strategies are {names}")
            if last:
                raise ScenarioError(f"{source}: override {key!r}: name a field of strategy {part!r}, e.g. {where}.err")
            node = match[0]
            continue
        if not isinstance(node, dict):
            raise ScenarioError(f"{source}: override {key!r}: {'.'.join(parts[:i])} is a value, not a table")
        if last:
            _check_known(parts, source, key, model or Scenario)
            node[part] = value
        else:
            if part not in node:
                _check_known(parts[: i + 1], source, key, model or Scenario)
                node[part] = {}
            node = node[part]


def _check_known(parts: list[str], source: str, key: str, root: type[BaseModel]) -> None:
    """Refuse overrides of fields the schema does not have, listing the allowed ones."""
    model: type[BaseModel] = root
    for j, part in enumerate(parts):
        if model is Scenario and part == "strategies":
            model = Strategy
            continue
        if part not in model.model_fields:
            if model is Strategy and j == 1:  # a strategy name; checked elsewhere
                continue
            allowed = ", ".join(model.model_fields)
            raise ScenarioError(f"{source}: override {key!r}: unknown field {part!r}; allowed here: {allowed}")
        ann = model.model_fields[part].annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif model is not Control:
            return


def _validate(raw: dict[str, Any], source: str, model: type[BaseModel] = Scenario) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ScenarioError(_format_errors(e, raw, source, model)) from None


def _format_errors(e: ValidationError, raw: dict[str, Any], source: str, root: type[BaseModel] = Scenario) -> str:
    lines = []
    for err in e.errors():
        loc = list(err["loc"])
        # Strategies are addressed by name, not list index, in messages and overrides.
        if len(loc) >= 2 and loc[0] == "strategies" and isinstance(loc[1], int):
            try:
                loc[1] = raw["strategies"][loc[1]].get("name", loc[1])
            except (IndexError, AttributeError, KeyError, TypeError):
                pass
        field = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parent = _model_at(loc[:-1], root)
            allowed = ", ".join(parent.model_fields) if parent else "see the schema"
            msg = f"unknown field; allowed here: {allowed}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "string_pattern_mismatch":
            msg = "must be a plain name: letters, digits, '_', '-', '.' (it names output folders)"
        value = err.get("input")
        shown = "" if err["type"] in ("missing",) or isinstance(value, dict) else f" = {value!r}"
        lines.append(f"field '{field}'{shown}: {msg}")
    missing = [x.split("'")[1] for x in lines if x.endswith(": required field is missing")]
    if len(missing) > 1:                                   # one clause for all of them (an empty file)
        lines = [x for x in lines if not x.endswith(": required field is missing")]
        lines.append(f"required fields are missing: {', '.join(missing)}")
    return f"{source}: " + "; ".join(lines)                # one line, however many problems


def _model_at(loc: list[Any], root: type[BaseModel] = Scenario) -> type[BaseModel] | None:
    model: type[BaseModel] = root
    for part in loc:
        if model is Scenario and part == "strategies":
            model = Strategy
            continue
        if model is Strategy:
            continue
        f = model.model_fields.get(str(part))
        if f is None:
            return None
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return None
    return model


def scenario_to_dict(scn: Scenario) -> dict[str, Any]:
    """Plain data for manifests (resolved shares included)."""
    d = copy.deepcopy(scn.model_dump(mode="json"))
    for s, share in zip(d["strategies"], scn.shares):
        s["share"] = share
    return d


def to_toml(scn: Scenario) -> str:
    """The resolved scenario as TOML that :func:`load_scenario` reads back to an equal scenario."""
    d = scn.model_dump(mode="json", exclude_none=True)

    def lit(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json_key(k)} = {lit(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(lit(x) for x in v) + "]"
        return json_str(str(v))

    def json_key(k: str) -> str:
        return k if k.replace("_", "").isalnum() else json_str(k)

    def json_str(s: str) -> str:
        import json
        return json.dumps(s)

    lines = []
    for k, v in d.items():
        if not isinstance(v, (dict, list)):
            lines.append(f"{k} = {lit(v)}")
    for s in d["strategies"]:
        lines += ["", "[[strategies]]"] + [f"{k} = {lit(x)}" for k, x in s.items()]
    for section in ("judge", "prompts", "selection", "update", "population", "agent", "neural", "control"):
        lines += ["", f"[{section}]"] + [f"{k} = {lit(x)}" for k, x in d[section].items()]
    return "\n".join(lines) + "\n"
