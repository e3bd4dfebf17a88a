"""Questions asked of scenarios, runs and models: fixed points, stability and basins of the
mean-field map (:mod:`.dynamics`), under which conditions a verdict holds
(:mod:`.conditions`), the like-for-like mean-field prediction of a neural run
(:mod:`.prediction`), the reward-consistency audit (:mod:`.audit`), the correction premium
and model judges (:mod:`.premium`, :mod:`.model_judge`) and the leak laboratory
(:mod:`.leaks`).

Layer 4: may import core, results, stages and backends; never a report, a kind or a front end.
"""
