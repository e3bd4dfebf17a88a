"""Shared fixtures. Every test writes only under its own tmp_path (caches included)."""

from __future__ import annotations

import os

# One BLAS thread, as in Ray's workers (OMP_NUM_THREADS=1): results computed here and in a
# worker then agree bit for bit (the neural share estimator's SLSQP amplifies the last-bit
# differences that a different BLAS thread count gives). Must be set before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / ".mpl"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / ".xdg"))
    monkeypatch.setenv("SEEDBED_CACHE", str(tmp_path / ".cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture
def write_toml(tmp_path):
    """Write a scenario TOML text to a file and return its path."""
    def _write(text: str, name: str = "scn.toml"):
        p = tmp_path / name
        p.write_text(text)
        return p
    return _write


MINIMAL = """
name = "tiny"
rounds = 5
[[strategies]]
name = "honest"
err = 0.05
fix = 0.5
[[strategies]]
name = "seeder"
err = 0.5
fix = 1.0
false_fix = 0.3
[judge]
bonus = 1.0
d_mistake = 0.5
[prompts]
phi = 1.0
[selection]
rule = "best_of_n"
n = 4
"""
