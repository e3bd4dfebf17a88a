"""The twin test on the pipeline's own checkpoints (``neural.twin_test_every``).

The pipeline's eval items are its held-out probe questions (:class:`.task.Task`): the
contamination guard keeps them out of every prompt, rehearsal text and fine-tuning sample,
so the probes measure behaviour on questions the model is never trained on. A leak that no
string guard sees (the model writing a probe question in another form, say) would show in
the model instead: it would do better on the probe questions than on other questions of the
same kind. With ``neural.twin_test_every = k > 0`` the twin test of :mod:`seedbed.analyses.leaks`
checks exactly that, on the base (round 0) and after every k-th round:

* **items**: every held-out probe question a + b, in the model's own format (the tiny
  model's ``Q:a+b`` / ``A:<sum>``; a chat model's template with the Inspect tasks' question);
* **twins**: :data:`TWINS` per item from the built-in generator (a, b uniform below
  ``neural.max_number``), never a probe question, so in this finite task the twins are the
  pipeline's own prompt questions. They are drawn once per member from its node of the seed
  tree (``streams.rng("leak", "twins")``) and reused every round, so the rounds' tests differ
  only in the model;
* **rows**: ``leak/twin_effect`` (mean log-likelihood of the answer, item minus the mean of
  its twins, nats), ``leak/twin_ci_low`` / ``leak/twin_ci_high`` (its two-sided 95% t
  interval over the items), ``leak/twin_p`` (one-sided stratified permutation test, 9,999
  draws) and ``leak/twin_items`` (n).

What the test can and cannot say here: at round 0 items and twins are exchangeable (the
base is pre-trained on every question alike, and the probe split is random). After the
pipeline fine-tunes, the twins are questions it trained on and the items are not, so under
no leak the effect drifts to zero or below and the one-sided test stays quiet; it fires when
the model does *better* on its held-out probes than on its own training questions, which a
clean run gives no reason for. It is therefore conservative after round 0 (a small leak may
be masked by the training advantage of the twins), and its p-values are per round: with
many rounds tested, some false alarm at level 0.05 becomes likely by chance alone.

Scoring is one batched, teacher-forced pass in eval mode with no sampling, so it draws no
random number from any stream the pipeline uses: a run with the test on writes the same
rows as one with it off, plus the ``leak/`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seedbed.backends.neural.leaktest.items import Item, addition_item, addition_twin, make_twins, style_of
from seedbed.core.seeds import Streams

TWINS = 5                   # twins per probe question


@dataclass
class TwinCheck:
    """A member's fixed twin-test set: the probe questions and their twins, and the
    permutation test's seed."""

    items: list[Item]
    twins: list[list[Item]]
    style: str
    seed: int

    @classmethod
    def build(cls, pairs: list[tuple[int, int]], max_number: int, tok: Any, streams: Streams,
              k: int = TWINS) -> "TwinCheck":
        """Items from the probe ``pairs`` in ``tok``'s style; ``k`` twins each from ``streams``."""
        style = style_of(tok)
        items = [addition_item(a, b, max_number, style) for a, b in pairs]
        twins = make_twins(items, addition_twin, k, streams.rng("leak", "twins"))
        return cls(items, twins, style, streams.int_seed("leak", "permutation"))

    def stats(self, model: Any, tok: Any) -> dict[str, float]:
        """The twin test of ``model`` as ``leak/`` stats (see the module docstring)."""
        from seedbed.backends.neural.leaktest.twins import twin_test

        res = twin_test(model, tok, self.items, addition_twin, seed=self.seed, style=self.style, twins=self.twins)
        t = res.ll
        return {"leak/twin_effect": t.effect, "leak/twin_ci_low": t.ci_low, "leak/twin_ci_high": t.ci_high,
                "leak/twin_p": t.p, "leak/twin_items": float(t.n)}
