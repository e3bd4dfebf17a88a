"""Scenario kinds: each runs a scenario end to end and writes its folder and report: the
post-training pipeline (:mod:`.pipeline`), the Krueger et al. unit test (:mod:`.krueger`)
and the grading schedule (:mod:`.grading`); :mod:`.common` holds what the non-pipeline
kinds share. The registry of kinds is :mod:`seedbed.core.kinds`.

Layer 6: may import every layer below (core, results, stages, backends, analyses, report).
"""
