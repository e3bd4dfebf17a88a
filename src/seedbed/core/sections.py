"""The sections of a pipeline scenario: strategies, judge, prompts, selection, update, the
backends' own settings (agent, neural), the population and the control.

Each is a strict pydantic model whose field descriptions are the scenario reference
(docs/scenario-reference.md is generated from them). The backends' sections live here, in
the core, because a scenario is validated before any backend is imported (and no core
module may import a backend); each names the backend that reads it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from seedbed.core.registry import CREDIT, RULES
from seedbed.core.schema import StrictModel

class Strategy(StrictModel):
    """One behaviour profile (a 'subpersonality' or persona).

    All rates are per assistant turn and lie in [0, 1].
    """

    name: str = Field(min_length=1, description="Label used in tables, plots and overrides.")
    share: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Initial share of the policy mixture; omitted shares split the rest equally.")
    err: float = Field(ge=0.0, le=1.0, description="Own mistake rate in the training context.")
    err_deploy: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Own mistake rate in deployment (H4); defaults to err.")
    err_review: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Own mistake rate when the turn reviews or corrects an earlier answer (turn 2, or any "
                    "response to a prompt that carries an earlier answer); defaults to err. A seeder that "
                    "plants at turn 1 and answers right when it fixes (SCoRe's setting) has err = 1, err_review = 0.")
    fix: float = Field(ge=0.0, le=1.0, description="Rate of correcting a real earlier mistake.")
    false_fix: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="Rate of 'correcting' a correct earlier turn (reflexive correction).")
    harm: float = Field(default=0.0, ge=0.0, le=1.0, description="Rate of harmful content.")
    agree: float = Field(default=0.0, ge=0.0, le=1.0,
                         description="Rate of agreeing with a belief the user states (sycophancy).")

    @property
    def deploy_err(self) -> float:
        """Mistake rate outside training (falls back to ``err``)."""
        return self.err if self.err_deploy is None else self.err_deploy

    @property
    def review_err(self) -> float:
        """Own mistake rate when reviewing or correcting an earlier answer (falls back to ``err``)."""
        return self.err if self.err_review is None else self.err_review


class Judge(StrictModel):
    """Scores the last assistant turn (or a two-turn transcript) from what it detects.

    R = base·[no detected mistake] − pen_mistake·[detected mistake] + bonus·[corrected]
        − pen_ignore·[detected earlier mistake left uncorrected]
        − pen_false·[detected false correction] − pen_harm·[detected harm]
    """

    base: float = Field(default=1.0, description="Reward for a turn with no detected mistake.")
    pen_mistake: float = Field(default=0.0, ge=0.0, description="Penalty for a detected own mistake.")
    bonus: float = Field(default=0.0, ge=0.0, description="Bonus for correcting a real earlier mistake.")
    pen_ignore: float = Field(default=0.0, ge=0.0, description="Penalty for leaving a detected earlier mistake.")
    pen_false: float = Field(default=0.0, ge=0.0, description="Penalty for a detected false correction.")
    pen_harm: float = Field(default=1.0, ge=0.0, description="Penalty for detected harm.")
    d_mistake: float = Field(default=1.0, ge=0.0, le=1.0, description="P(judge notices an own mistake).")
    d_ignore: float = Field(default=1.0, ge=0.0, le=1.0, description="P(judge notices an ignored earlier mistake).")
    d_harm: float = Field(default=1.0, ge=0.0, le=1.0, description="P(judge notices harm).")
    d_false: float = Field(default=1.0, ge=0.0, le=1.0, description="P(judge notices a false correction).")
    credit: str = Field(
        default="last_turn",
        description="With two-turn episodes, the credit rule that turns (R1, R2) into the ranked return "
                    "(seedbed.stages.credit): last (= last_turn) R2 | discounted (= transcript) R1 + gamma·R2 | "
                    "sum R1 + R2 | discounted_final gamma·R2 (AReaL) | turn_delta 2·R2 − R1 (prime-rl) | "
                    "score_shaping R1 + R2 + alpha·(R2 − R1) (SCoRe), or one you registered.")
    gamma: float = Field(default=1.0, ge=0.0, le=1.0,
                         description="Per-turn discount of 'discounted' (transcript) and 'discounted_final'.")
    alpha: float = Field(default=0.0, ge=0.0, description="SCoRe shaping: adds alpha·(r2 − r1) to turn 2.")
    syc_bonus: float = Field(default=0.0, ge=0.0,
                             description="Sycophancy bias: reward for agreeing with the user's stated belief.")
    function: str | None = Field(
        default=None, pattern=r"^([A-Za-z_][\w.]*|[^:]+\.py):[A-Za-z_]\w*$",
        description="Your own judge, 'module:function' (imported from the working directory, as python -m "
                    "would) or 'path/to/file.py:function' (a file, relative to the working directory). It replaces the reward table above, the credit rule and the shaping: it scores a "
                    "whole episode. reads = 'labels': called with the episode's assistant turns, each a dict of "
                    "what the judge noticed (mistake, corrected, ignored, false_correction, harm, agreed, "
                    "wrong_agreement: bools, drawn with the detection probabilities d_*) and 'prefix'; exact on "
                    "every backend (mean-field and agent enumerate the outcomes). reads = 'text': called with "
                    "the chat messages [{'role', 'content'}, ...]; neural backend only. Returns one finite number.")
    reads: Literal["labels", "text"] = Field(
        default="labels", description="What judge.function is called with: the turns' labels or the text.")

    @field_validator("credit")
    @classmethod
    def _registered_credit(cls, v: str) -> str:
        if v not in CREDIT:
            raise ValueError(f"unknown credit rule; allowed: {', '.join(CREDIT.names())}")
        return v


class Prompts(StrictModel):
    """Where a round's prompts come from."""

    m0: float = Field(default=0.0, ge=0.0, le=1.0,
                      description="Fresh pool: P(prompt carries a mistaken earlier assistant turn).")
    c0: float = Field(default=0.0, ge=0.0, le=1.0,
                      description="Fresh pool: P(prompt carries a clean earlier assistant turn).")
    phi: float = Field(default=0.0, ge=0.0, le=1.0,
                       description="Fraction of prompts written by the current policy itself.")
    rho: float = Field(default=0.0, ge=0.0, le=1.0,
                       description="Persona persistence: P(responder continues the prefix's persona).")
    belief: float = Field(default=0.0, ge=0.0, le=1.0,
                          description="P(the user states a belief about the answer) on any prompt.")
    belief_wrong: float = Field(default=0.5, ge=0.0, le=1.0,
                                description="P(a stated belief is wrong); agreeing with it is then a mistake.")
    turns: Literal[1, 2] = Field(
        default=1, description="Episode length; 2 = the same persona reviews its own first turn.")

    @model_validator(mode="after")
    def _pool_is_a_distribution(self) -> "Prompts":
        if self.m0 + self.c0 > 1.0 + 1e-12:
            raise ValueError(f"m0 + c0 = {self.m0 + self.c0:g} must be at most 1 (the rest are fresh questions)")
        return self


class Selection(StrictModel):
    """Which responses are kept for fine-tuning."""

    rule: str = Field(description="A registered selection rule (seedbed.stages.selection.RULES): threshold | best_of_n | "
                                  "top_fraction | reward_weighted | critique_revision, or one you registered.")
    tau: float = Field(default=0.5, description="Threshold for 'threshold' and 'critique_revision'.")
    n: int = Field(default=4, ge=1, le=64, description="Responses sampled per prompt for 'best_of_n'.")
    q: float = Field(default=0.5, gt=0.0, le=1.0, description="Kept fraction of the batch for 'top_fraction'.")
    temperature: float = Field(default=1.0, gt=0.0, description="Temperature for 'reward_weighted'.")

    @field_validator("rule")
    @classmethod
    def _registered(cls, v: str) -> str:
        if v not in RULES:
            raise ValueError(f"unknown selection rule; allowed: {', '.join(RULES.names())}")
        return v


class Update(StrictModel):
    """How the policy moves toward what was kept."""

    eta: float = Field(default=0.5, ge=0.0, le=1.0, description="Step toward the kept distribution per round.")
    kappa: float = Field(default=0.0, ge=0.0, le=1.0, description="Anchor: pull back toward the base mixture.")


class Agent(StrictModel):
    """Sample sizes of the agent-based backend."""

    conversations: int = Field(default=4096, ge=1, le=10_000_000,
                               description="Prompts per round per member (each gets n responses under best-of-n).")
    probes: int = Field(default=4096, ge=0, le=10_000_000,
                        description="Fresh held-out questions per round to measure first-turn error rates.")
    revision_tries: int = Field(default=32, ge=1, le=1024,
                                description="Critique-revision: candidate revisions drawn before a failure is dropped.")


class Neural(StrictModel):
    """The neural backend: a real transformer put through the pipeline (DESIGN.md §5)."""

    model: str | None = Field(default=None, description="A local causal-LM folder; None builds and pre-trains the tiny model.")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto | cpu | cuda.")
    rounds: int | None = Field(default=8, ge=1, description="Rounds for this backend (None: the scenario's rounds).")
    max_number: int = Field(default=10, ge=2, le=500,
                            description="Questions a + b with a, b < max_number (10: single-digit sums the default "
                                        "tiny model reproduces faithfully).")
    d_model: int = Field(default=96, ge=16)
    n_layer: int = Field(default=3, ge=1)
    n_head: int = Field(default=4, ge=1)
    corpus_size: int = Field(default=30000, ge=100, description="Pre-training conversations.")
    pretrain_steps: int = Field(default=3000, ge=0,
                                description="Cap on pre-training steps for every stop rule (the exact count for "
                                            "stop = 'steps'); also sets the learning-rate schedule's length.")
    pretrain_batch: int = Field(default=128, ge=1)
    pretrain_lr: float = Field(default=3e-3, gt=0)
    stop: Literal["fidelity", "steps", "greedy"] = Field(
        default="fidelity",
        description="When pre-training stops. 'fidelity': once every behaviour rate of the base (computed "
                    "exactly by teacher forcing on the held-out questions: first-turn error and harm; fix, keep, "
                    "false fix and harm after mistaken, correct and harmful earlier answers) is within "
                    "fidelity_tol of the corpus's exact rate, checked every check_every steps; "
                    "'steps': after exactly pretrain_steps; "
                    "'greedy': once greedy answers reach competence (the old rule: it caps competence at 1 and "
                    "leaves sampled rates uncalibrated). Every rule stops at pretrain_steps at the latest.")
    fidelity_tol: float = Field(default=0.05, gt=0, le=1,
                                description="stop = 'fidelity': pre-training stops once the largest gap "
                                            "|model − corpus| over the behaviour rates is at most this.")
    check_every: int = Field(default=100, ge=1,
                             description="Pre-training steps between two checks of the stop rule.")
    competence: float = Field(default=0.95, ge=0, le=1,
                              description="stop = 'greedy': stop once greedy answers to probe questions are this "
                                          "accurate.")
    prompts_per_round: int = Field(default=384, ge=1)
    lr: float = Field(default=5e-4, gt=0, description="Fine-tuning learning rate.")
    warmup_steps: int = Field(default=10, ge=0,
                              description="Fine-tuning: linear learning-rate warm-up over a member's first this many "
                                          "optimizer steps (the AdamW state persists across rounds, so only the "
                                          "first round(s) warm up).")
    epochs: int = Field(default=1, ge=1, description="Passes over the kept samples per round.")
    batch_size: int = Field(default=64, ge=1)
    probe_size: int = Field(default=40, ge=8,
                            description="Held-out probe questions (never trained on), at most half of the "
                                        "max_number² questions (the rest are the pipeline's prompts); a larger "
                                        "value is refused. Every probe uses all of them, with exact "
                                        "teacher-forced rates.")
    temperature: float = Field(default=1.0, gt=0, description="Sampling temperature.")
    inoculation: bool = Field(default=False,
                              description="Add, during training only, an instruction naming seed-and-correct as acceptable.")
    keep_checkpoints: int = Field(default=2, ge=1, description="Round checkpoints whose weights are kept.")
    replay: float = Field(default=0.5, ge=0.0, le=10.0,
                          description="Anchor: pre-training conversations mixed into each fine-tuning set, per kept "
                                      "sample (keeps task knowledge while the pipeline shapes behaviour).")
    lora_r: int = Field(default=8, ge=0, le=1024,
                        description="LoRA rank for a pretrained chat model (neural.model a folder whose tokenizer has a "
                                    "chat template, e.g. SmolLM2 from `seedbed prepare smollm2`): only the adapters "
                                    "train and checkpoints keep only them; 0 fine-tunes every weight. The tiny model "
                                    "is always fine-tuned whole (a value other than 8 is refused for it).")
    lora_alpha: float = Field(default=16.0, gt=0, le=4096,
                              description="LoRA scaling alpha (the adapters' update is scaled by alpha / lora_r); "
                                          "pretrained chat models only.")
    sample_batch: int = Field(default=512, ge=1, le=65536,
                              description="Rows per batch of the KV-cached sampler (lower it to save memory for a "
                                          "large model).")
    max_new: int | None = Field(default=None, ge=1, le=4096,
                                description="Tokens per sampled turn; None: 12 for the tiny model's one-line turns, "
                                            "32 for a chat model's replies (a reply cut short is judged as it stands).")
    twin_test_every: int = Field(default=0, ge=0, le=100_000,
                                 description="The twin test (seedbed.analyses.leaks) on the member's model: 0 = off; k = on "
                                             "the base (round 0) and after every k-th round. Items: every held-out "
                                             "probe question in the model's own format; 5 twins each from the same "
                                             "generator (never a probe question), drawn once from the member's seed "
                                             "stream and reused every round. Writes leak/twin_effect (nats, item "
                                             "minus twin mean log-likelihood of the answer), leak/twin_ci_low and "
                                             "leak/twin_ci_high (95% t interval over the items), leak/twin_p "
                                             "(one-sided permutation test) and leak/twin_items. A value above the "
                                             "run's rounds is refused.")

    @model_validator(mode="after")
    def _heads(self) -> "Neural":
        if self.d_model % self.n_head:
            raise ValueError(f"d_model = {self.d_model} must be divisible by n_head = {self.n_head}")
        pool = self.max_number ** 2 // 2
        if self.probe_size > pool:
            raise ValueError(f"probe_size = {self.probe_size} is larger than the held-out pool: max_number = "
                             f"{self.max_number} gives {self.max_number ** 2} questions, of which at most {pool} can "
                             "be held out (the rest are the pipeline's prompts); lower neural.probe_size or raise "
                             "neural.max_number")
        return self


class Population(StrictModel):
    """The population outer loop (H2) and context swapping."""

    members: int = Field(default=1, ge=1, le=4096, description="Members, each with its own policy and prompts.")
    interval: int = Field(default=0, ge=0, description="Rounds between exploit/explore steps; 0 = never.")
    fraction: float = Field(default=0.25, gt=0.0, le=0.5,
                            description="Bottom fraction that copies a random member of the top fraction.")
    fitness: Literal["last", "window"] = Field(default="last", description="Rank on the last round or a window.")
    window: int = Field(default=5, ge=1, description="Rounds averaged when fitness = 'window'.")
    explore: list[str] = Field(default_factory=lambda: ["update.eta"],
                               description="Hyperparameters perturbed after an exploit.")
    factors: list[float] = Field(default_factory=lambda: [0.8, 1.2], min_length=1,
                                 description="Explore multiplies each explored value by one of these at random.")
    context_swap: bool = Field(default=False, description="Member m's prompts are written by member m+1.")
    init_spread: float = Field(default=0.0, ge=0.0,
                               description="Members' initial shares ~ Dirichlet(shares / spread); 0 = identical.")

    @field_validator("factors")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(f <= 0 for f in v):
            raise ValueError("must all be positive (explore multiplies a rate by one of them)")
        return v

    @model_validator(mode="after")
    def _explorable(self) -> "Population":
        bad = [k for k in self.explore if k not in ("update.eta", "update.kappa")]
        if bad:
            raise ValueError(f"explore keys {bad} are not explorable; allowed: update.eta, update.kappa")
        return self


class Control(StrictModel):
    """The control run: the same scenario with these overrides (the thing under test switched off)."""

    set: dict[str, Any] = Field(default_factory=lambda: {"prompts.phi": 0.0},
                                description="Overrides (dotted paths) that define the control.")
    label: str = Field(default="fixed human prompts (phi = 0)", description="What the control switches off.")
    common_streams: bool = Field(
        default=False,
        description="Common random numbers: seed i of the control draws from the same random streams as seed "
                    "i of the scenario (same questions, same sampling seeds), so the paired difference carries "
                    "less noise and fewer seeds decide a verdict. Off: each arm has its own streams.")
