"""The stages of one post-training round, shared by every backend: the judge's reward
(:mod:`.judge`), the credit rules that turn per-turn rewards into a return (:mod:`.credit`),
selection rules (:mod:`.selection`), the
update of a policy's shares (:mod:`.update`) and the contamination guard on synthetic
prompts (:mod:`.contamination`).

Layer 2: may import :mod:`seedbed.core` and :mod:`seedbed.results`.
"""
