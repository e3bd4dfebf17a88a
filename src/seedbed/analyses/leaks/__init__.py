"""Leaks no string match can see: test the trained model, not the training text.

The string guard (:mod:`seedbed.stages.contamination`) compares texts, so an eval item that
reaches training data translated or re-encoded passes it by construction. Whatever form a
leak takes, it shows in the model: it does better on the leaked items than on fresh items of
the same kind. seedbed's eval items come from generators, so fresh items ("twins") can be
made on demand.

* :mod:`.items`: eval items (the built-in addition problems, or a user's JSONL set) and their
  twin generators (built in, or a user callable ``module:function(item, rng) -> twin``).
* :mod:`.scoring`: one batched teacher-forced pass per batch of items: the log-likelihood of
  each reference answer given its prompt, whether greedy decoding reproduces it, and the
  Min-K%++ membership score of the item's text.
* :mod:`.membership`: Min-K%++ and its known weakness.
* :mod:`.twins`: the twin test (paired, one-sided) and its report.
* :mod:`.lab`: the leak laboratory on the tiny model (``python -m seedbed.analyses.leaks.lab --out DIR``).
* :mod:`.command`: ``seedbed contamination --model PATH``.
"""
