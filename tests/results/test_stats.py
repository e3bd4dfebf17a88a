"""Statistics a reviewer would sign: exact t intervals, bounded quantities, three-way verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from seedbed.results.metrics import SIGNED_UNIT, UNIT, fmt_ci, mean_ci
from seedbed.results.verdict import INCONCLUSIVE, MARGIN, NOT_SELECTS, SELECTS, decide


@pytest.mark.parametrize("n", range(2, 31))
def test_mean_ci_equals_scipys_t_interval(n):
    x = np.random.default_rng(n).normal(0.3, 0.2, n)
    m, lo, hi = mean_ci(x)
    want = stats.t.interval(0.95, n - 1, loc=x.mean(), scale=stats.sem(x))
    assert m == pytest.approx(x.mean(), abs=1e-15)
    assert (lo, hi) == pytest.approx(want, abs=1e-12)


def test_the_two_seed_quantile_is_12_71_not_7_15():
    x = np.array([0.0, 1.0])                      # sd = 0.7071, sem = 0.5
    m, lo, hi = mean_ci(x)
    assert (hi - m) / 0.5 == pytest.approx(12.7062, abs=1e-4)


def test_one_value_has_no_interval():
    m, lo, hi = mean_ci(np.array([0.13]))
    assert m == 0.13 and np.isnan(lo) and np.isnan(hi)
    assert fmt_ci((m, lo, hi), 1) == "0.130 (1 seed: no interval)"


def test_bounded_quantities_never_leave_their_range():
    shares = np.array([0.0, 0.0, 0.9])
    m, lo, hi = mean_ci(shares, bounds=UNIT)
    assert lo == 0.0 and 0 < hi <= 1.0
    diff = np.array([0.99, 1.0, -0.5])
    assert mean_ci(diff, bounds=SIGNED_UNIT)[2] == 1.0
    assert fmt_ci(mean_ci(shares, bounds=UNIT), 3).endswith("(3 seeds)")


@pytest.mark.parametrize("effect,n,exact,want", [
    ((0.5, 0.4, 0.6), 5, False, SELECTS),
    ((-0.5, -0.6, -0.4), 5, False, NOT_SELECTS),
    ((0.05, -0.01, 0.11), 5, False, INCONCLUSIVE),          # straddles the threshold
    ((0.5, 0.4, 0.6), 2, False, INCONCLUSIVE),               # too few seeds whatever the interval
    ((0.13, np.nan, np.nan), 1, False, INCONCLUSIVE),        # one seed: no interval, no verdict
    ((0.5, 0.5, 0.5), 1, True, SELECTS),                     # exact: the value decides
    ((MARGIN, MARGIN, MARGIN), 1, True, NOT_SELECTS),
])
def test_three_way_verdict(effect, n, exact, want):
    outcome, reason = decide(effect, n, exact)
    assert outcome == want
    if want == INCONCLUSIVE:
        assert ("seed" in reason and "at least 3" in reason) or "straddles" in reason
