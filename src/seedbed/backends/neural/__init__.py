"""Neural backend: a real transformer with latent personas, put through the pipeline (DESIGN.md §5).

Modules, by what they hold:

* ``backend``     the backend's entry point ``run(rep)``: refuse, pre-train, run the members
* ``support``     the scenario fields the backend honours, and the refusal of the rest
* ``pretrain``    the base model (built from the run's root seed and cached) and rehearsal data
* ``run``         one member's rounds (``NeuralRun.round``: the stages top to bottom) and a population's
* ``prompts``     stage 1: the round's prompts (fresh questions, review prompts, self-written prefixes)
* ``sampling``    stage 2: n episodes per prompt (one or two turns)
* ``judging``     stage 3: parse every turn, score it with the shared reward table
* ``selection``   stage 4: the selection rule's weights, critique-revision, the contamination guard
* ``update``      stage 5: weighted fine-tuning with rehearsal
* ``probes``      stage 6: behaviour on held-out probe questions → measured shares
* ``checkpoints`` per-round checkpoints: save, prune, restore (shared with the Ray Tune path)
* ``engine``      batched KV-cache sampling, pre-training and fine-tuning loops
* ``model``       the transformers model and character tokenizer; ``task`` the arithmetic task

Heavy dependencies (torch, transformers) are imported inside the functions that need them.
"""
