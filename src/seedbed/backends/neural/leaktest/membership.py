"""Min-K%++ (Zhang et al. 2024): a membership score per text, with no reference model.

At each position t of a text, the token's log-probability is compared with the model's own
next-token distribution there::

    z_t = (log p(x_t | x_<t) - mu_t) / sigma_t,
    mu_t = E_{v ~ p(.|x_<t)} [log p(v | x_<t)],   sigma_t^2 = Var_{v ~ p(.|x_<t)} [log p(v | x_<t)],

and the score is the mean of the lowest k% of the z_t (k = 20% by default). A text the model
was trained on tends to sit at a local maximum of its likelihood, so even its worst tokens
score high; a higher score means "more likely a member".

**Its known weakness.** Membership scores of this family (loss, zlib, Min-K%, Min-K%++) are
close to chance when members and non-members are drawn from the same distribution and the
model saw each member once or a few times in a large corpus: Duan et al. 2024 ("Do Membership
Inference Attacks Work on Large Language Models?") measure AUCs of about 0.5-0.6 on random
member/non-member splits of the Pile across model sizes; the high AUCs reported elsewhere come
largely from a shift between the member and non-member sets (e.g. a time cut-off), which the
score detects instead of membership. It has no calibrated threshold either: a score says
nothing alone. seedbed therefore reports it *beside* the twin test, referenced against the
item's twins (the AUC of items against twins, which is 0.5 in expectation when nothing
leaked), never as a verdict by itself.
"""

from __future__ import annotations

import numpy as np

DEFAULT_K = 0.2


def minkpp(logp: np.ndarray, mu: np.ndarray, sigma: np.ndarray, mask: np.ndarray, k: float = DEFAULT_K) -> np.ndarray:
    """Min-K%++ of each row: the mean of the lowest ``ceil(k * n)`` normalised token scores
    among the row's ``n`` masked positions (at least one). Arrays are (rows, positions);
    ``logp`` is each actual token's log-probability, ``mu`` / ``sigma`` the mean and standard
    deviation of log-probabilities under the model's next-token distribution there. A row
    with no masked position gets NaN."""
    if not 0 < k <= 1:
        raise ValueError(f"k = {k}: must be in (0, 1]")
    mask = np.asarray(mask, dtype=bool)
    z = (np.asarray(logp, dtype=float) - mu) / np.maximum(sigma, 1e-12)
    z = np.where(mask, z, np.inf)
    z.sort(axis=1)
    n = mask.sum(1)
    m = np.maximum(1, np.ceil(k * n).astype(int))
    csum = np.cumsum(np.where(np.isfinite(z), z, 0.0), axis=1)
    out = csum[np.arange(len(z)), np.clip(m - 1, 0, z.shape[1] - 1)] / m
    return np.where(n > 0, out, np.nan)


def auc(members: np.ndarray, others: np.ndarray) -> float:
    """P(score of a member > score of another) + P(tie)/2: the Mann-Whitney AUC."""
    from scipy.stats import mannwhitneyu

    members, others = np.asarray(members, float), np.asarray(others, float)
    return float(mannwhitneyu(members, others).statistic / (len(members) * len(others)))
