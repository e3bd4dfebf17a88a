"""What a run leaves behind, and nothing that produces it: tidy metric rows
(:mod:`.metrics`), the verdict read from them (:mod:`.verdict`), atomic writes and the
self-describing manifest (:mod:`.writing`), one run per folder under a lock
(:mod:`.folders`), the PBT lineage log (:mod:`.lineage`), terminal tables (:mod:`.tables`)
and experiment trackers (:mod:`.tracking`).

Layer 1: may import :mod:`seedbed.core` only.
"""
