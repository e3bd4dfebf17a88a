"""Adapting a pretrained chat model (tiny stand-ins here; SmolLM2 in the slow test): the folder it
writes, what adaptation.json records, the cache, and how a folder's probes become exact."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from seedbed.backends.neural import chat  # noqa: E402
from seedbed.backends.neural.adapt import AdaptSettings, adapt  # noqa: E402
from seedbed.backends.neural.fidelity import model_rates  # noqa: E402
from seedbed.backends.neural.model import build_model, build_tokenizer, load, save  # noqa: E402
from seedbed.backends.neural.task import Task  # noqa: E402
from seedbed.core.config import load_scenario  # noqa: E402
from seedbed.core.schema import ScenarioError  # noqa: E402
from seedbed.results.writing import code_revision  # noqa: E402

from tests.backends.neural.test_smollm2 import chat_tokenizer, tiny_llama  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
SMALL = ["neural.max_number=6", "neural.probe_size=8"]
QUICK = AdaptSettings(steps=12, batch=8, lr=5e-3, check_every=6, corpus_size=100, lora_r=4)


@pytest.fixture()
def base(tmp_path):
    tok = chat_tokenizer()
    return save(tiny_llama(tok, seed=1), tok, tmp_path / "tiny-chat")


def test_adaptation_writes_a_model_folder_with_its_record_and_is_cached(base, tmp_path):
    scn = load_scenario("seed", SMALL)
    lines = []
    out = adapt(base, scn, QUICK, cache=tmp_path / "cache", log=lines.append)
    info = json.loads((out / "adaptation.json").read_text())
    assert [c["step"] for c in info["checks"]] == [6, 12] and info["steps"] == 12
    assert info["stopped_by"] == "steps" and info["below_fidelity"]        # a random tiny model is not faithful
    for t in (info["before"]["sampled"], info["before"]["exact"], info["after"]):
        assert set(t["behaviours"]) and 0 <= t["valid_mass_min"] <= t["valid_mass"] <= 1
    assert info["probes"] == ("exact" if info["valid_mass"] >= chat.VALID_MASS else "sampled")
    assert json.loads((out / "fidelity.json").read_text()) == info["after"]
    assert any("step 12/12" in line for line in lines)
    assert info["code_revision"] == code_revision()
    assert info["weights_sha256"] == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    again = adapt(base, scn, QUICK, cache=tmp_path / "cache-2")              # built again elsewhere: the same weights
    assert json.loads((again / "adaptation.json").read_text())["weights_sha256"] == info["weights_sha256"]
    model, tok = load(out)                                              # an ordinary folder: no adapters left
    assert not hasattr(model, "peft_config") and chat.is_chat(tok)
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert adapt(base, scn, QUICK, cache=tmp_path / "cache") == out     # cached: returned, not retrained
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    other = adapt(base, load_scenario("seed", SMALL + ["strategies.B.share=0.5"]), QUICK, cache=tmp_path / "cache")
    assert other != out                                                  # another corpus, another folder


def test_a_folder_whose_adaptation_reached_the_answer_form_is_probed_exactly(base, tmp_path):
    """probe_mode reads adaptation.json: at valid mass ≥ VALID_MASS the rates are the exact
    teacher-forced ones (equal to model_rates(mode='exact')); below it, sampled."""
    task = Task(6, 8, 0)
    for mass, mode in ((0.97, "exact"), (0.5, "sampled"), (None, "sampled")):
        folder = tmp_path / f"m{mass}"
        shutil.copytree(base, folder)
        if mass is not None:
            (folder / chat.ADAPTATION).write_text(json.dumps({"valid_mass": mass}))
        model, tok = load(folder)
        assert chat.probe_mode(model) == mode
        if mode == "exact":
            np.testing.assert_array_equal(model_rates(model, tok, task).items,
                                          model_rates(model, tok, task, mode="exact").items)


def test_adaptation_refuses_a_model_without_chat_template_and_bad_settings(tmp_path):
    tok = build_tokenizer()
    plain = save(build_model(tok, d_model=16, n_layer=1, n_head=2), tok, tmp_path / "plain")
    scn = load_scenario("seed", SMALL)
    with pytest.raises(ScenarioError, match="no chat template"):
        adapt(plain, scn, QUICK, cache=tmp_path / "cache")
    with pytest.raises(ScenarioError, match="adapt.steps = 0"):
        adapt(plain, scn, AdaptSettings(steps=0), cache=tmp_path / "cache")
    with pytest.raises(ScenarioError, match="not a model folder"):
        adapt(tmp_path / "nothing", scn, QUICK, cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
