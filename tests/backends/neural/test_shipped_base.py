"""The default base ships with seedbed (a first run needs no pre-training), and the code
that built it builds it again (slow: about 12 CPU-minutes)."""

from __future__ import annotations

import json

import pytest

from seedbed.backends.neural.pretrain import SHIPPED, base_key, base_model
from seedbed.core.config import load_scenario


def test_the_default_base_is_shipped_and_used_without_pre_training(tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDBED_CACHE", str(tmp_path / "cache"))
    scn = load_scenario("seed")
    path = base_model(scn, 0)
    assert path == SHIPPED / f"base-{base_key(scn, 0)}"
    assert not (tmp_path / "cache").exists()                      # nothing pre-trained, nothing written
    fid = json.loads((path / "fidelity.json").read_text())
    assert fid["mae"] <= 0.04 and fid["discrimination"] >= 0.6 and fid["rho"] >= 0.8
    assert (path / "model.safetensors").stat().st_size < 3_000_000
    other = load_scenario("seed", {"neural.d_model": 32})          # any other base is not shipped
    assert base_key(other, 0) != base_key(scn, 0)


def test_a_scenario_read_back_from_its_manifest_keys_the_same_base():
    """A manifest spells every share out (scenario_to_dict); the base it names must be the one
    the run used, so the key ignores a strategy's share field and keys on the resolved shares."""
    from seedbed.core.config import Scenario, scenario_to_dict

    for name, over in (("seed", {}), ("seed", {"strategies.A.share": 0.4, "strategies.B.share": 0.3})):
        scn = load_scenario(name, over)
        back = Scenario.model_validate(json.loads(json.dumps(scenario_to_dict(scn))))
        assert base_key(back, 7) == base_key(scn, 7)
    assert base_key(load_scenario("seed", {"strategies.A.share": 0.4, "strategies.B.share": 0.3}), 7) != \
        base_key(load_scenario("seed"), 7)                          # other shares, another corpus


@pytest.mark.slow
def test_the_shipped_base_is_what_the_code_builds(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import torch

    torch.set_num_threads(1)                                      # bit-identical only at one thread
    from seedbed.backends.neural.pretrain import pretrain

    scn = load_scenario("seed")
    shipped = SHIPPED / f"base-{base_key(scn, 0)}"
    info = pretrain(scn, 0, tmp_path / "rebuilt")
    want = json.loads((shipped / "pretrain.json").read_text())
    assert info["steps"] == want["steps"] and info["stopped_by"] == want["stopped_by"]
    got = json.loads((tmp_path / "rebuilt" / "fidelity.json").read_text())
    ref = json.loads((shipped / "fidelity.json").read_text())
    for name, r in ref["behaviours"].items():                     # the fidelity table, behaviour by behaviour
        assert got["behaviours"][name]["model"] == pytest.approx(r["model"], abs=1e-4), name
    assert got["mae"] == pytest.approx(ref["mae"], abs=1e-4)
