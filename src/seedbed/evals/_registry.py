"""Entry point for Inspect (``[project.entry-points.inspect_ai]``): registers the tasks and
the ``seedbed`` model provider."""

from inspect_ai.model import modelapi

from seedbed.evals.tasks import first_attempt_incentive, reflexive_correction, two_turn_self_correction  # noqa: F401


@modelapi(name="seedbed")
def seedbed_checkpoint():
    from seedbed.evals.provider import SeedbedCheckpointAPI

    return SeedbedCheckpointAPI
