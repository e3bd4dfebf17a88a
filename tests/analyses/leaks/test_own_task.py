"""Twins from the item's stratum, and a seedbed checkpoint tested on its own task's items:
a clean model trained on a narrow range (a, b < 10) shows no pairing artefact."""

from __future__ import annotations

import numpy as np
import pytest

from seedbed.backends.neural.leaktest.items import addition_items, addition_twin, make_twins, stratum
from seedbed.core.config import load_scenario

WIDTH = 0.3     # nats: the widest 95% interval of the twin effect accepted on a clean model


def test_every_twin_comes_from_its_items_stratum():
    items = addition_items(200, seed=1, max_number=20)
    for item, ts in zip(items, make_twins(items, addition_twin, 5, np.random.default_rng(1))):
        assert all(stratum(t["a"], t["b"]) == stratum(item["a"], item["b"]) for t in ts)
    lone = {"question": "5+5", "answer": "10", "a": 5, "b": 5, "max_number": 6, "style": "plain"}
    t = addition_twin(lone, np.random.default_rng(0))         # 5+5 is alone in its stratum below 6
    assert (t["a"], t["b"]) != (5, 5) and t["a"] < 6 and t["b"] < 6


def test_a_seedbed_base_is_tested_on_its_own_task_without_a_pairing_artefact():
    pytest.importorskip("torch")
    from seedbed.backends.neural.pretrain import base_model
    from seedbed.cli.contamination import model_check, own_task

    base = base_model(load_scenario("seed"), 0)               # the shipped default base (a, b < 10)
    assert own_task(base) == (10, 40)
    lines: list[str] = []
    res = model_check(base, k=5, log=lines.append)
    t = res.ll
    assert t.n == 40 and "own task" in " ".join(lines)
    assert t.ci_high - t.ci_low <= WIDTH and abs(t.effect) < 0.1, (t.ci_low, t.ci_high)
    # (measured: +0.017 nats [+0.005, +0.029], p = 0.014 — a real, tiny signal: the base's stopping
    # rule reads its behaviour on these probe questions, which selects the checkpoint on them)
