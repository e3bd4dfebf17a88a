"""Inspect AI evals for seeding in real models (DESIGN.md §6). Optional extra: ``seedbed[eval]``.

Tasks (``inspect eval seedbed/<task>``): ``first_attempt_incentive``, ``reflexive_correction``,
``two_turn_self_correction``. Model provider ``seedbed/<run-dir>`` serves a trained neural
checkpoint. Importing this package does not import inspect_ai; ``seedbed.evals.tasks`` does.
"""
