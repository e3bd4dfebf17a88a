"""Every preset's run files on tiny settings, against the golden files in tests/golden/data.

The golden files pin the numbers of the mean-field and agent backends (metrics, lineage,
manifest without the version fields; the Krueger and grading kinds' result tables).
Regenerate them only for an intended change of behaviour, with
``python tests/golden/generate.py``, and say in the commit what changed and why.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(HERE))
import generate  # noqa: E402

CASES = sorted(p.name for p in (HERE / "data").iterdir())


def test_every_preset_has_golden_files():
    want = {f"{preset}-{backend}" for preset, backend in generate.cases()}
    assert want == set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_run_files_equal_the_golden_files(case, tmp_path):
    preset, backend = case.rsplit("-", 1)
    got = generate.run_case(preset, backend, tmp_path / case)
    diff = generate.differences(generate.read_case(HERE / "data" / case), got)
    assert not diff, "\n".join(diff)
