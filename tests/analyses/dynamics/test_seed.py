"""The seed preset's map: what is found is fixed, stability claims survive long runs, known facts."""

from __future__ import annotations

import time

import numpy as np
import pytest

from seedbed.analyses.dynamics import analyze, start_dependence
from seedbed.core.config import load_scenario
from seedbed.backends.meanfield import MeanField, MFParams


@pytest.fixture(scope="module")
def seed():
    scn = load_scenario("seed")
    return scn, analyze(scn, points=512)


def _run(scn, S: np.ndarray, rounds: int) -> np.ndarray:
    """Iterate the exact map directly (MeanField, all strategies), all rows at once."""
    mf = MeanField(MFParams.from_scenario(scn).tile(len(S)))
    for _ in range(rounds):
        S = mf.step(S)[0]
    return S


def test_every_fixed_point_is_fixed(seed):
    scn, a = seed
    X = a.map.expand(np.array([fp.shares for fp in a.fixed_points]))   # strategy shares
    new = MeanField(MFParams.from_scenario(scn).tile(len(X))).step(X)[0]
    assert np.abs(new - X).max() <= 1e-10
    assert np.all(X >= 0) and np.allclose(X.sum(1), 1.0)


def test_stability_agrees_with_long_runs(seed):
    # Perturb each fixed point by 1e-3 toward every vertex and toward a few random mixtures,
    # run 3000 rounds: a stable point takes every perturbation back, an unstable one loses one.
    scn, a = seed
    K = len(scn.names)
    rng = np.random.default_rng(1)
    X, S = [], []
    for fp in a.fixed_points:
        x = a.map.expand(fp.shares[None])[0]
        targets = np.vstack([np.eye(K), rng.dirichlet(np.ones(K), 4)])
        X.append(np.tile(x, (len(targets), 1)))
        S.append((1 - 1e-3) * x + 1e-3 * targets)
    end = _run(scn, np.vstack(S), 3000)                    # all perturbed runs at once
    dist = np.abs(end - np.vstack(X)).max(1).reshape(len(a.fixed_points), -1)
    for fp, d in zip(a.fixed_points, dist):
        if fp.stable:
            assert d.max() < 1e-6, (fp.shares, d)
        else:
            assert d.max() > 0.1, (fp.shares, d)


def test_seed_facts(seed):
    # Bistable: all-A and all-B stable, one unstable point on the A–B edge, and a rare B cannot
    # invade all-A (factor < 1, equal to s_B'/s_B at s_B = 1e-9).
    scn, a = seed
    A, B = a.names.index("A"), a.names.index("B")
    stable = [fp for fp in a.fixed_points if fp.stable]
    assert sorted(int(fp.shares.argmax()) for fp in stable) == [A, B]
    assert all(fp.shares.max() == 1.0 for fp in stable)
    edge = [fp for fp in a.fixed_points if 0 < fp.shares[B] < 1]
    assert len(edge) == 1 and not edge[0].stable
    assert edge[0].shares[A] + edge[0].shares[B] == pytest.approx(1.0, abs=1e-12)
    assert 0.3 < edge[0].shares[B] < 0.5
    rate = next(i.factor for i in a.invasion if (i.resident, i.invader) == (A, B))
    assert rate < 1
    s = np.zeros((1, len(scn.names)))
    s[0, 0], s[0, 1] = 1 - 1e-9, 1e-9
    direct = MeanField(MFParams.from_scenario(scn)).step(s)[0][0, 1] / 1e-9
    assert rate == pytest.approx(direct, abs=1e-7)
    assert a.focus_invasion == pytest.approx(rate, abs=1e-12)       # the others settle at all-A
    # the start (A 0.25, B 0.25, C+D 0.5) ends at all-B, as the preset's story says
    assert a.start_state is not None and a.start_state.shares[B] == 1.0
    assert sum(b.share for b in a.basins) == pytest.approx(1.0)
    assert sum(b.contains_start for b in a.basins) == 1


def test_identical_strategies_are_merged(seed):
    # C and D have equal rates: the C–D edge is a line of fixed points, so the analysis works on C+D.
    scn, a = seed
    assert a.names == ["A", "B", "C+D"] and a.merged == [["C", "D"]]
    S = np.array([[0, 0, 0.3, 0.7], [0, 0, 0.9, 0.1]])
    new = MeanField(MFParams.from_scenario(scn).tile(2)).step(S)[0]
    assert np.abs(new - S).max() <= 1e-12


def test_bifurcation_matches_pointwise_analyses():
    scn = load_scenario("seed")
    values = [0.0, 0.5, 1.0]
    a = analyze(scn, param=("prompts.phi", values), points=16)
    b = a.bifurcation
    for p, v in enumerate(values):
        single = analyze(load_scenario("seed", {"prompts.phi": v}), points=16)
        got = sorted(tuple(np.round(fp.shares, 9)) + (fp.stable,) for fp in b.fixed[p])
        want = sorted(tuple(np.round(fp.shares, 9)) + (fp.stable,) for fp in single.fixed_points)
        assert got == want
        assert b.focus_invasion[p] == pytest.approx(single.focus_invasion, abs=1e-10)
    # phi = 0 (the control): all-B is unstable and there is no A–B edge point
    assert len(b.fixed[0]) == 3 and [fp.stable for fp in b.fixed[0]].count(True) == 1


def test_structural_axis_is_swept_one_scenario_per_value():
    # selection.n cannot be a grid axis (it changes the computation); it still works, value by value.
    scn = load_scenario("sycophancy")
    a = analyze(scn, param=("selection.n", [2, 4]), points=16)
    single = analyze(load_scenario("sycophancy", {"selection.n": 2}), points=16)
    assert [fp.stable for fp in a.bifurcation.fixed[0]] == [fp.stable for fp in single.fixed_points]
    np.testing.assert_allclose([fp.shares for fp in a.bifurcation.fixed[0]], [fp.shares for fp in single.fixed_points])


def test_start_dependence_is_fast_and_names_two_basins():
    scn = load_scenario("seed")
    start_dependence(scn)                                  # warm caches and imports
    t = time.perf_counter()
    d = start_dependence(scn)
    assert time.perf_counter() - t < 3.0                   # < 1 s on the project's machines
    assert d["stable_states"] == 2 and d["depends_on_start"]
    assert d["start_state"] == {"A": 0.0, "B": 1.0, "C+D": 0.0}
    assert [b["contains_start"] for b in d["basins"]].count(True) == 1
    assert sum(b["share"] for b in d["basins"]) == pytest.approx(1.0)
