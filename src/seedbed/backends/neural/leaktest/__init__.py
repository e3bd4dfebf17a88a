"""Leak tests that score a causal language model: eval items and their twins
(:mod:`.items`), teacher-forced scoring (:mod:`.scoring`), the twin test (:mod:`.twins`)
and Min-K%++ membership scores (:mod:`.membership`).

They live with the neural backend because the pipeline runs the twin test on its own
checkpoints (:mod:`seedbed.backends.neural.twincheck`); the command and the leak
laboratory that use them are :mod:`seedbed.cli.contamination` and
:mod:`seedbed.analyses.leaks`.
"""
