"""Inspect AI evals for seeding in real models (DESIGN.md §6). Optional extra: ``seedbed[eval]``.

Tasks (``inspect eval seedbed/<task>``): ``first_attempt_incentive``, ``reflexive_correction``,
``two_turn_self_correction``. Model provider ``seedbed/<path>`` serves a trained neural
checkpoint (``<path>``: a run directory or checkpoint) or any local model folder; a model
with a chat template (SmolLM2-135M-Instruct, prepared offline by
``python -m seedbed.backends.neural.pretrained prepare``) is spoken to in it. Importing this package
does not import inspect_ai; ``seedbed.evals.tasks`` does.
"""
