"""Model provider ``seedbed/<path>``: a local model answers Inspect's chats.

``<path>`` is a run directory (its latest scenario-arm checkpoint is used), a checkpoint
folder (a LoRA checkpoint too: adapters + ``lora.json`` naming the base), or any local
causal-LM folder (``config.json`` and safetensors weights), such as the SmolLM2 folder
that ``seedbed prepare smollm2`` writes.

* A model whose tokenizer has a **chat template** (a real instruct model) gets Inspect's
  messages in that template and answers in its own words; its turn ends at the template's
  end-of-turn token (the tokenizer's eos), or after ``max_tokens`` (default 48).
* The tiny models speak the task's own format, so the chat is translated: the question
  becomes ``Q:a+b``, an earlier answer ``A:n``, a request to review ``Q:sure?``; the
  model's review restates its final answer, the number it leaves standing (a checkpoint
  trained on the older ``fix n`` / ``ok`` review encoding is read the same way).

Requests that Inspect sends concurrently are batched: a worker thread collects them and
samples each batch with :func:`seedbed.backends.neural.engine.sample` (left-padded, KV cache).
Model args (``-M key=value``): ``batch_size`` (default 32, also Inspect's default
``max_connections``), ``device`` (default: CUDA when available), ``threads`` (torch CPU
threads), ``seed`` (the sampling generator). With ``--temperature 0`` decoding is greedy
and the results do not depend on how requests were batched; with sampling they do.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, ModelUsage
from inspect_ai.tool import ToolChoice, ToolInfo

from seedbed.backends.neural.problems import first_number, parse_problem


def resolve_checkpoint(path: str | Path) -> Path:
    """The model folder to load for a run directory, checkpoint or model folder."""
    p = Path(path)
    if (p / "config.json").exists() and any(p.glob("*.safetensors")):
        return p
    if (p / "lora.json").exists() and (p / "model.safetensors").exists():     # a LoRA round checkpoint
        return p
    cks = sorted(q for q in (p / "checkpoints").glob("scenario-*/round-*") if (q / "model.safetensors").exists())
    if cks:
        return max(cks, key=lambda q: q.name)
    raise ValueError(f"seedbed/{path}: no model folder or checkpoints/scenario-*/round-* with weights there")


@dataclass
class _Request:
    prompt: str
    key: tuple[float, int, str]          # (temperature, max_new, stop): what a batch must share
    future: Future


class SeedbedCheckpointAPI(ModelAPI):
    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(), **model_args: Any) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        import torch

        from seedbed.backends.neural.model import has_chat_template, load_folder

        if model_args.get("threads"):
            torch.set_num_threads(int(model_args["threads"]))
        device = model_args.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        self.folder = resolve_checkpoint(model_name)
        self.model, self.tok = load_folder(self.folder, device)
        self.chat = has_chat_template(self.tok)
        self.batch_size = int(model_args.get("batch_size", 32))
        self.gen = torch.Generator(device=self.model.device).manual_seed(int(model_args.get("seed", 0)))
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def max_connections(self) -> int:
        """Concurrent requests Inspect sends by default: one batch."""
        return self.batch_size

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        prompt, previous = self._format(input)
        temp = 1.0 if config.temperature is None else float(config.temperature)
        if self.chat:
            key = (temp, int(config.max_tokens or 48), self.tok.eos_token)
        else:
            key = (temp, int(config.max_tokens or 12), "\n")
        fut: Future = Future()
        self._queue.put(_Request(prompt, key, fut))
        self._start_worker()
        while not fut.done():
            await anyio.sleep(0.02)
        text = fut.result().strip()
        if previous is not None:                 # older checkpoints' reviews: 'fix n' → n, 'ok' → the earlier answer
            text = text[4:] if text.startswith("fix ") else (str(previous) if text.startswith("ok") else text)
        n_in = len(self.tok(prompt, add_special_tokens=False)["input_ids"])
        n_out = len(self.tok(text, add_special_tokens=False)["input_ids"])
        out = ModelOutput.from_content(model=self.model_name, content=text)
        out.usage = ModelUsage(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)
        return out

    # ----------------------------------------------------------------- batching
    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._serve, name="seedbed-sampler", daemon=True)
                self._worker.start()

    def _serve(self) -> None:
        """Take what is queued (waiting briefly for more), sample it batch by batch; stop when idle."""
        while True:
            try:
                first = self._queue.get(timeout=2.0)
            except queue.Empty:
                return
            pending = [first]
            while len(pending) < self.batch_size:
                try:
                    pending.append(self._queue.get(timeout=0.05))
                except queue.Empty:
                    break
            groups: dict[tuple, list[_Request]] = {}
            for r in pending:
                groups.setdefault(r.key, []).append(r)
            for key, reqs in groups.items():
                self._run(key, reqs)

    def _run(self, key: tuple[float, int, str], reqs: list[_Request]) -> None:
        from seedbed.backends.neural import engine

        temp, max_new, stop = key
        try:
            outs = engine.sample(self.model, self.tok, [r.prompt for r in reqs], 1, self.gen, max_new=max_new,
                                 temperature=temp, batch_size=self.batch_size, stop=stop)
        except BaseException as e:          # every waiting request learns why
            for r in reqs:
                r.future.set_exception(e)
            return
        for r, o in zip(reqs, outs):
            r.future.set_result(o[0])

    # ----------------------------------------------------------------- prompts
    def _format(self, messages: list[ChatMessage]) -> tuple[str, int | None]:
        if self.chat:
            from seedbed.backends.neural.model import chat_format

            turns = [(m.role, m.text) for m in messages if m.role in ("system", "user", "assistant")]
            return chat_format(self.tok, turns), None
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
