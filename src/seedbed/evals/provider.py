"""Model provider ``seedbed/<path>``: a trained neural checkpoint answers Inspect's chats.

``<path>`` is a run directory (its latest scenario-arm checkpoint is used), a checkpoint
folder, or any local causal-LM folder written by seedbed. The tiny models speak the task's
own format, so the chat is translated: the question becomes ``Q:a+b``, an earlier answer
``A:n``, a request to review ``Q:sure?``; the model's ``fix n`` / ``ok`` reply becomes the
number it leaves standing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, ModelUsage
from inspect_ai.tool import ToolChoice, ToolInfo

from .problems import first_number, parse_problem


def resolve_checkpoint(path: str | Path) -> Path:
    """The model folder to load for a run directory, checkpoint or model folder."""
    p = Path(path)
    if (p / "config.json").exists() and (p / "model.safetensors").exists():
        return p
    cks = sorted(q for q in (p / "checkpoints").glob("scenario-*/round-*") if (q / "model.safetensors").exists())
    if cks:
        return max(cks, key=lambda q: q.name)
    raise ValueError(f"seedbed/{path}: no model folder or checkpoints/scenario-*/round-* with weights there")


class SeedbedCheckpointAPI(ModelAPI):
    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(), **model_args: Any) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        import torch

        from ..neural.model import load

        self.folder = resolve_checkpoint(model_name)
        self.model, self.tok = load(self.folder, "cuda" if torch.cuda.is_available() else "cpu")
        self.gen = torch.Generator(device=self.model.device).manual_seed(int(model_args.get("seed", 0)))

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        from ..neural import engine

        prompt, previous = self._format(input)
        temp = 1.0 if config.temperature is None else float(config.temperature)
        text = engine.sample(self.model, self.tok, [prompt], 1, self.gen, temperature=temp)[0][0].strip()
        if previous is not None:                 # a review: 'fix n' → n, 'ok' → the earlier answer
            text = text[4:] if text.startswith("fix ") else (str(previous) if text.startswith("ok") else text)
        n_in = len(self.tok(prompt)["input_ids"])
        n_out = len(self.tok(text)["input_ids"])
        out = ModelOutput.from_content(model=self.model_name, content=text)
        out.usage = ModelUsage(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)
        return out

    def _format(self, messages: list[ChatMessage]) -> tuple[str, int | None]:
        users = [m for m in messages if m.role == "user"]
        assistants = [m for m in messages if m.role == "assistant"]
        ab = next((parse_problem(m.text) for m in users if parse_problem(m.text)), None)
        if ab is None:
            return "Q:0+0\nA:", None
        q = f"Q:{ab[0]}+{ab[1]}\nA:"
        if assistants and messages[-1].role == "user":
            prev = first_number(assistants[-1].text)
            return f"{q}{prev if prev is not None else assistants[-1].text}\nQ:sure?\nA:", prev
        return q, None
