"""The foundation every other layer stands on: the scenario schema and its loading
(:mod:`.schema`, :mod:`.config`), the random-seed tree (:mod:`.seeds`), named registries
(:mod:`.registry`, :mod:`.kinds`) and where independent tasks run (:mod:`.executors`).

Layer 0: imports nothing else from seedbed (the kinds registry names its kinds by module
path and imports them only on lookup).
"""
