"""The stages of one post-training round, shared by every backend: the judge's reward and
the credit it gives each turn (:mod:`.judge`), selection rules (:mod:`.selection`), the
update of a policy's shares (:mod:`.update`) and the contamination guard on synthetic
prompts (:mod:`.contamination`).

Layer 2: may import :mod:`seedbed.core` and :mod:`seedbed.results`.
"""
