"""The layout's rules, checked on the source: no import cycle, reports import no backend,
and a selection rule registered outside the package runs on both simulated backends."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import seedbed
from seedbed.core.config import load_scenario

SRC = Path(seedbed.__file__).resolve().parent

# The layers, bottom to top (the package docstrings say the same): a module may import its own
# layer and the layers named for it here, nothing else. Front ends (cli/, api, sweeps/, evals/,
# the package root) may import anything.
LAYERS = {
    "core": set(),
    "results": {"core"},
    "stages": {"core", "results"},
    "backends": {"core", "results", "stages"},
    "analyses": {"core", "results", "stages", "backends"},
    "report": {"core", "results"},                  # reports read files: no stage, backend or analysis
    "kinds": {"core", "results", "stages", "backends", "analyses", "report"},
}
FRONT = "front end"


def _module_name(path: Path, src: Path = SRC) -> str:
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute names a ``from ... import ...`` statement refers to (module or module.attr)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [prefix] + [f"{prefix}.{a.name}" for a in node.names]   # the caller keeps the ones that are modules


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """seedbed module → seedbed modules it imports, at any depth of the file (lazy imports
    inside functions count), except under ``if TYPE_CHECKING:``."""
    files = {_module_name(p, src): p for p in src.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        tree = ast.parse(path.read_text())
        skip = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
                skip |= {id(n) for n in ast.walk(node)}
        deps = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = _resolve(mod, path.name == "__init__.py", node)
                if any(n in files for n in names[1:]):   # `from . import x`: x is the dependency, not the package
                    names = names[1:]
            for n in names:
                if n in files and n != mod:
                    deps.add(n)
        graph[mod] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def layer_of(module: str) -> str:
    """The layer a module belongs to: its first folder under seedbed/, or the front end."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else FRONT


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that reaches a layer its module's layer may not import."""
    bad = []
    for mod, deps in sorted(graph.items()):
        own = layer_of(mod)
        if own == FRONT:
            continue
        for d in sorted(deps):
            if layer_of(d) != own and layer_of(d) not in LAYERS[own]:
                bad.append(f"{mod} ({own}) imports {d} ({layer_of(d)})")
    return bad


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert len(graph) > 30 and "seedbed.core.config" in graph["seedbed.backends.runner"]   # the graph sees real edges
    assert _cycle(graph) is None, " → ".join(_cycle(graph))


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_lives_in_a_layer_folder_or_is_a_front_end():
    graph = import_graph()
    loose = sorted(m for m in graph if m.count(".") == 1 and m.split(".")[1] not in LAYERS
                   and m.split(".")[1] not in ("api", "cli", "sweeps", "evals"))
    assert not loose, f"modules outside the layer folders: {loose}"
    for layer in LAYERS:                                   # each layer is a package that says what it holds
        doc = ast.get_docstring(ast.parse((SRC / layer / "__init__.py").read_text()))
        assert doc and "import" in doc, f"seedbed/{layer}/__init__.py must say what it may import"


def test_no_layer_imports_a_layer_above_it():
    graph = import_graph()
    assert {layer_of(m) for m in graph} >= set(LAYERS)     # every layer has modules
    assert layer_violations(graph) == []


def test_report_modules_import_no_backend_and_no_analysis():
    graph = import_graph()
    for report in (m for m in graph if layer_of(m) == "report"):
        seen, todo = set(), [report]
        while todo:
            for d in graph[todo.pop()]:
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        reached = sorted(m for m in seen if layer_of(m) in ("stages", "backends", "analyses", "kinds"))
        assert not reached, f"{report} reaches {reached}"


def test_the_layer_check_finds_a_planted_violation(tmp_path):
    """A copy of two real modules plus a planted upward import, in a scratch package: the
    check names exactly the planted edge (and a report that computes)."""
    pkg = tmp_path / "seedbed"
    for rel in ("core/__init__.py", "core/seeds.py", "backends/__init__.py", "report/__init__.py"):
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "seeds.py").write_text((SRC / "core" / "seeds.py").read_text()
                                           + "\n\ndef planted():\n    from seedbed.backends import runner\n")
    (pkg / "backends" / "runner.py").write_text("from seedbed.core import seeds\n")
    (pkg / "report" / "figure.py").write_text("from ..backends.runner import *\n")
    graph = import_graph(pkg)
    assert layer_violations(graph) == [
        "seedbed.core.seeds (core) imports seedbed.backends.runner (backends)",
        "seedbed.report.figure (report) imports seedbed.backends.runner (backends)"]
    assert layer_violations(import_graph()) == []          # and the real tree has none


# ----------------------------------------------------------------------------- a user's rule

@pytest.fixture
def bonus_rule():
    """Keep only responses that score above the base reward of 1 (in the seed preset: those
    that earned the correction bonus). Registered here, not in seedbed."""
    from seedbed.stages.selection import RULES, Rule

    @RULES.register("bonus_only")
    class BonusOnly(Rule):
        def exact_setup(self, p, out):
            # P(R > 1 | strategy k, prefix type x), (G, K) per x
            return [np.einsum("gka,ga->gk", o.prob, (np.round(o.value, 9) > 1).astype(float)) for o in out]

        def exact_kept(self, ctx, mix, gen, s):
            return sum(g * pos for g, pos in zip(gen, ctx.state))

        def weights(self, sel, score, n, group, groups, rng, jitter=1e-6):
            return (score > 1 + 1e-9).astype(float)

    yield BonusOnly
    RULES.remove("bonus_only")


def test_a_rule_registered_outside_the_package_runs_on_both_simulated_backends(bonus_rule):
    over = {"selection.rule": "bonus_only", "rounds": 6, "agent.conversations": 40000, "agent.probes": 0}
    scn = load_scenario("seed", over)
    exact = seedbed.run(scn, backend="meanfield")
    sampled = seedbed.run(scn, backend="agent", seeds=3)
    from seedbed.results.metrics import final_values
    for name in scn.names:
        mf = final_values(exact.metrics, f"share/{name}")[0]
        ag = final_values(sampled.metrics, f"share/{name}")
        assert abs(ag.mean() - mf) < 0.01, (name, mf, ag)
    # it is not a rule the package had: its result differs from every built-in's
    builtin = {r: final_values(seedbed.run(scn.with_overrides({"selection.rule": r})).metrics, "share/B")[0]
               for r in ("threshold", "best_of_n", "top_fraction", "reward_weighted", "critique_revision")}
    got = final_values(exact.metrics, "share/B")[0]
    assert all(abs(got - v) > 1e-6 for v in builtin.values()), (got, builtin)


def test_an_unknown_rule_is_a_scenario_error_listing_the_registered_ones():
    from seedbed.core.config import ScenarioError

    with pytest.raises(ScenarioError, match="selection.rule.*unknown selection rule; allowed: threshold, best_of_n"):
        load_scenario("seed", {"selection.rule": "no_such_rule"})
