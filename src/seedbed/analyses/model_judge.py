"""A local chat model as a judge: a rubric prompt, scored by the model's own probabilities.

:class:`ModelJudge` reads any local causal-LM folder with a chat template (e.g.
SmolLM2-135M-Instruct as ``seedbed prepare smollm2`` leaves it in the cache). It is a text
judge: called with a conversation (chat messages ``[{'role', 'content'}, ...]``) it shows
the model the conversation inside :data:`RUBRIC` and returns

    score = P(" Yes") / (P(" Yes") + P(" No"))   at the first token of the model's reply,

the judge's expected verdict, in [0, 1], with no sampling noise. ``score_many`` scores a
batch in left-padded forward passes. Use it in ``seedbed audit model:PATH`` (the
correction premium), or as a neural run's text judge from your own module::

    # myjudges.py
    from seedbed.analyses.model_judge import ModelJudge
    judge = ModelJudge("runs/.cache/smollm2-135m-instruct")
    # seedbed run seed --backend neural --set judge.function=myjudges:judge --set judge.reads=text

Needs torch and transformers (the ``neural`` extra); imported only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from seedbed.core.schema import ScenarioError

RUBRIC = ("Here is a conversation between a user and an assistant.\n\n{conversation}\n\n"
          "Is the assistant's last reply correct and helpful? Answer Yes or No.")
YES, NO = ("Yes", "yes", " Yes", " yes"), ("No", "no", " No", " no")


def render(messages: Sequence[dict[str, str]]) -> str:
    """A conversation as the plain text the rubric quotes."""
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


class ModelJudge:
    """A local chat model folder as a text judge (see the module docstring)."""

    def __init__(self, path: str | Path, device: str = "cpu", batch: int = 16, rubric: str = RUBRIC):
        self.path, self.device, self.batch, self.rubric = Path(path), device, batch, rubric
        self._model: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            from seedbed.backends.neural.model import has_chat_template, load
        except ImportError as e:                                  # pragma: no cover - extra missing
            raise ScenarioError(f"a model judge needs torch and transformers: pip install 'seedbed[neural]' ({e})")
        if not (self.path / "config.json").exists():
            raise ScenarioError(f"model judge {self.path}: not a model folder (no config.json); "
                                "prepare SmolLM2 with: seedbed prepare smollm2")
        self._model, self._tok = load(self.path, self.device)
        if not has_chat_template(self._tok):
            raise ScenarioError(f"model judge {self.path}: the tokenizer has no chat template")
        ids = lambda words: sorted({self._tok.encode(w, add_special_tokens=False)[0] for w in words})  # noqa: E731
        self._yes, self._no = ids(YES), ids(NO)

    def prompt(self, messages: Sequence[dict[str, str]]) -> str:
        """The text the judge model reads: the rubric in its chat template, ready for its reply."""
        from seedbed.backends.neural.model import chat_format

        return chat_format(self._tok, [("user", self.rubric.format(conversation=render(messages)))],
                           generation_prompt=True)

    def score_many(self, conversations: Sequence[Sequence[dict[str, str]]]) -> list[float]:
        """P(Yes) / (P(Yes) + P(No)) for each conversation, in batches."""
        import torch

        self._load()
        out: list[float] = []
        for i in range(0, len(conversations), self.batch):
            texts = [self.prompt(c) for c in conversations[i:i + self.batch]]
            enc = self._tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            with torch.no_grad():
                logits = self._model(**enc).logits[:, -1].float()           # (B, V): the reply's first token
            logp = torch.log_softmax(logits, -1)
            yes = torch.logsumexp(logp[:, self._yes], -1)
            no = torch.logsumexp(logp[:, self._no], -1)
            out += torch.sigmoid(yes - no).tolist()                           # P(yes) / (P(yes) + P(no))
        return out

    def __call__(self, messages: Sequence[dict[str, str]]) -> float:
        return self.score_many([messages])[0]

    def __repr__(self) -> str:
        return f"ModelJudge({str(self.path)!r})"
