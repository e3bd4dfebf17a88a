"""Reports and figures, made only from files a run or an analysis wrote: the pipeline
report (:mod:`.pipeline`), run and sweep figures (:mod:`.plots`) and the figures of
``seedbed analyze`` (:mod:`.dynamics`).

Layer 5: may import :mod:`seedbed.core` and :mod:`seedbed.results` only: no stage, no
backend and no analysis, so nothing here computes a result.
"""
