"""Maps whose fixed points, stability and invasion factors follow by hand.

Every scenario here uses one prefix type per round and rho = 0, so strategy k's kept
mass is s_k·k_k(s) with a per-response keep rate k_k, and one round is

    s'_k = (1 − eta)·s_k + eta·s_k·k_k / Σ_j s_j·k_j          (kappa = 0)

a discrete replicator map. Its rest points are the vertices and the points where all
present strategies have equal keep rates; at vertex i the invasion factor of j is
(1 − eta) + eta·k_j/k_i.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import brentq

from seedbed.analyses.dynamics import analyze
from seedbed.core.config import load_scenario
from seedbed.backends.meanfield import MeanField, MFParams

THRESHOLD3 = """
name = "threshold3"
[[strategies]]
name = "X"
err = 0.1
fix = 0.0
[[strategies]]
name = "Y"
err = 0.4
fix = 0.0
[[strategies]]
name = "Z"
err = 0.7
fix = 0.0
[judge]
base = 1.0
d_mistake = 1.0
[prompts]
phi = 0.0
[selection]
rule = "threshold"
tau = 1.0
[update]
eta = 0.3
"""

# H never errs and ignores mistakes; S errs half the time and always corrects.
# All prompts are written by the policy (phi = 1): a prefix is mistaken w.p. mu = e·s_S.
THRESHOLD_SEEDER = """
name = "threshold_seeder"
[[strategies]]
name = "H"
err = 0.0
fix = 0.0
[[strategies]]
name = "S"
err = 0.5
fix = 1.0
[judge]
base = 1.0
d_mistake = 0.5
bonus = 1.0
pen_ignore = 0.5
d_ignore = 1.0
[prompts]
phi = 1.0
[selection]
rule = "threshold"
tau = 1.0
[update]
eta = 0.5
"""

# M errs (always detected) and ignores mistakes; F corrects every mistake but is harmful
# (always detected). Softmax (reward_weighted) selection at temperature 1.
REWARD_WEIGHTED = """
name = "coexistence"
[[strategies]]
name = "M"
err = 0.5
fix = 0.0
[[strategies]]
name = "F"
err = 0.0
fix = 1.0
harm = 0.9
[judge]
base = 1.0
d_mistake = 1.0
bonus = 1.0
pen_ignore = 1.0
d_ignore = 1.0
pen_harm = 1.0
d_harm = 1.0
[prompts]
phi = 1.0
[selection]
rule = "reward_weighted"
temperature = 1.0
[update]
eta = 0.5
"""


def _shares(a, name: str) -> list[float]:
    i = a.names.index(name)
    return sorted(float(fp.shares[i]) for fp in a.fixed_points)


def _edge_map(scn, i: int = 0, j: int = 1):
    """x ↦ share of strategy j after one round from the point (1 − x)·e_i + x·e_j (direct MeanField)."""
    def f(x: float) -> float:
        s = np.zeros((1, len(scn.names)))
        s[0, i], s[0, j] = 1 - x, x
        return float(MeanField(MFParams.from_scenario(scn)).step(s)[0][0, j])
    return f


def test_threshold_with_a_dominant_strategy_has_only_vertices(write_toml):
    # Fresh prompts only, every mistake detected: R = 1 without an own mistake, else 0, so
    # P(R ≥ tau = 1) = 1 − err: keep rates k = (0.9, 0.6, 0.3) never equal → no interior or
    # edge rest point; only the vertices are fixed. At vertex i the restricted Jacobian is
    # diagonal with entries 0.7 + 0.3·k_j/k_i.
    scn = load_scenario(write_toml(THRESHOLD3))
    a = analyze(scn, points=128)
    k = np.array([0.9, 0.6, 0.3])
    assert len(a.fixed_points) == 3
    assert all(fp.shares.max() == 1.0 for fp in a.fixed_points)
    for fp in a.fixed_points:
        i = int(fp.shares.argmax())
        expect = sorted(0.7 + 0.3 * k[j] / k[i] for j in range(3) if j != i)
        np.testing.assert_allclose(sorted(fp.eigenvalues.real), expect, atol=1e-7)
        assert np.all(fp.eigenvalues.imag == 0)
        assert fp.stable == (i == 0)                       # only the best strategy's vertex is stable
    for inv in a.invasion:
        np.testing.assert_allclose(inv.factor, 0.7 + 0.3 * k[inv.invader] / k[inv.resident], atol=1e-9)
    # everything off the Y–Z edge goes to all-X; the sample never lands exactly on that edge
    assert len(a.basins) == 1 and a.basins[0].share == 1.0 and a.basins[0].contains_start


def test_threshold_seeder_interior_point_is_analytic_and_unstable(write_toml):
    # mu = e·s (e = 0.5). Keep rates: H passes a clean prefix and fails a mistaken one (R = 0.5):
    # k_H = 1 − mu. S passes unless its own mistake is detected on a clean prefix (R = 0), and a
    # corrected mistaken prefix scores ≥ 1: k_S = (1 − mu)(1 − e·d) + mu. Equal at
    # mu* = e·d / (1 + e·d) = 0.2, i.e. s* = d / (1 + e·d) = 0.4. Derivative of the map there:
    # 1 + eta·s*(1 − s*)·e(1 + e·d)/k = 1 + 0.5·0.24·0.625/0.8 = 1.09375 > 1: unstable (bistable).
    scn = load_scenario(write_toml(THRESHOLD_SEEDER))
    a = analyze(scn, points=512)
    assert _shares(a, "S") == pytest.approx([0.0, 0.4, 1.0], abs=1e-10)
    inner = next(fp for fp in a.fixed_points if 0 < fp.shares[1] < 1)
    assert not inner.stable
    np.testing.assert_allclose(inner.eigenvalues.real, [1.09375], atol=1e-7)
    assert [fp.stable for fp in a.fixed_points if fp.shares.max() == 1] == [True, True]
    # Invasion: at all-H, mu = 0: k_S = 1 − e·d = 0.75 vs k_H = 1 → 0.5 + 0.5·0.75 = 0.875.
    # At all-S, mu = e: k_H = 0.5, k_S = 0.5·0.75 + 0.5 = 0.875 → 0.5 + 0.5·0.5/0.875.
    rate = {(a.names[i.resident], a.names[i.invader]): i.factor for i in a.invasion}
    assert rate["H", "S"] == pytest.approx(0.875, abs=1e-9)
    assert rate["S", "H"] == pytest.approx(0.5 + 0.25 / 0.875, abs=1e-9)
    # Basins on the segment: s_S > 0.4 goes to all-S. Uniform sample → shares 0.4 / 0.6.
    by = {int(b.state.shares.argmax()): b.share for b in a.basins}
    assert by[0] == pytest.approx(0.4, abs=0.01) and by[1] == pytest.approx(0.6, abs=0.01)
    start = next(b for b in a.basins if b.contains_start)        # start s_S = 0.5 > 0.4
    assert start.state.shares[1] == 1.0


def test_reward_weighted_coexistence_point(write_toml):
    # Per-response weights E[exp(R/T)] (T = 1) on a clean / mistaken prefix:
    #   M: A_M·(1, e^−pen_ignore),  A_M = (1 − e)·e^1 + e·e^0            (own mistakes detected)
    #   F: A_F·(1, e^bonus),        A_F = (1 − h)·e^1 + h·e^0            (harm detected)
    # so w_M(mu) = A_M(1 − mu(1 − e^−1)), w_F(mu) = A_F(1 + mu(e − 1)); equal at
    #   mu* = (A_M − A_F) / (A_M(1 − e^−1) + A_F(e − 1)),   s_M* = mu* / err_M.
    # F gains as M spreads (more mistakes to correct): negative frequency dependence, so the
    # interior point is stable and both vertices are invadable.
    scn = load_scenario(write_toml(REWARD_WEIGHTED))
    E = np.e
    A_M, A_F = 0.5 * E + 0.5, 0.1 * E + 0.9
    mu = (A_M - A_F) / (A_M * (1 - 1 / E) + A_F * (E - 1))
    s_star = mu / 0.5
    # Independent of the analysis: a 1-D brentq on the M–F edge map (share of F).
    f = _edge_map(scn, 0, 1)
    x_star = brentq(lambda x: f(x) - x, 0.05, 0.95, xtol=1e-14)
    assert 1 - x_star == pytest.approx(s_star, abs=1e-10)
    a = analyze(scn, points=256)
    inner = [fp for fp in a.fixed_points if fp.shares.max() < 1]
    assert len(inner) == 1
    assert inner[0].shares[0] == pytest.approx(s_star, abs=1e-10)
    slope = (f(x_star + 1e-6) - f(x_star - 1e-6)) / 2e-6        # the 1-D map's derivative
    np.testing.assert_allclose(inner[0].eigenvalues.real, [slope], atol=1e-6)
    assert inner[0].stable and slope < 1
    assert not any(fp.stable for fp in a.fixed_points if fp.shares.max() == 1)
    assert all(i.factor > 1 for i in a.invasion)                  # each invades the other
    assert len(a.basins) == 1 and a.basins[0].share == 1.0
    json.dumps(a.to_json())                                      # JSON-ready


def test_invasion_factor_matches_a_rare_invader(write_toml):
    # The reported factor (a derivative along the edge) equals s_j'/s_j at s_j = 1e-9.
    scn = load_scenario(write_toml(THRESHOLD_SEEDER))
    a = analyze(scn, points=16)
    f = _edge_map(scn, 0, 1)
    rate = next(i.factor for i in a.invasion if i.resident == 0)
    assert rate == pytest.approx(f(1e-9) / 1e-9, abs=1e-7)


def test_kappa_moves_the_rest_point_inside(write_toml):
    # With an anchor, vertices are not fixed; the unique rest point is interior and stable here.
    scn = load_scenario(write_toml(THRESHOLD3), {"update.kappa": 0.2})
    a = analyze(scn, points=64)
    assert not any(a.vertex_fixed)
    assert len(a.fixed_points) == 1 and a.fixed_points[0].stable
    assert np.all(a.fixed_points[0].shares > 0)
    s = a.fixed_points[0].shares[None]
    new = MeanField(MFParams.from_scenario(scn)).step(s)[0]
    assert np.abs(new - s).max() <= 1e-10
