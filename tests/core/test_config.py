"""Scenario files: validation, clear errors naming file/field/value, overrides, round trip."""

from __future__ import annotations

import pytest

from seedbed.core.config import ScenarioError, list_presets, load_scenario, parse_overrides, to_toml

from tests.conftest import MINIMAL


def test_every_preset_loads_and_has_a_line_saying_what_it_shows():
    presets = list_presets()
    assert {p.stem for p in presets} >= {"seed", "h1_fixed_prompts", "h3_transcript_credit", "h5_threshold",
                                         "h6_critique_revision"}
    for p in presets:
        s = load_scenario(p)
        assert s.shows.strip(), p
        if s.kind == "pipeline":
            assert abs(sum(s.shares) - 1) < 1e-12


def test_seed_control_differs_only_in_phi():
    s = load_scenario("seed")
    c = s.control_scenario()
    assert s.prompts.phi == 1.0 and c.prompts.phi == 0.0
    a, b = s.model_dump(), c.model_dump()
    a.pop("name"), b.pop("name")
    a["prompts"].pop("phi"), b["prompts"].pop("phi")
    assert a == b


BAD_FIELDS = [
    # (replace this, with this, expected fragments of the message)
    ('err = 0.05', 'err = 1.5', ["strategies.honest.err", "1.5", "less than or equal to 1"]),
    ('err = 0.05', 'err = "high"', ["strategies.honest.err", "'high'", "valid number"]),
    ('fix = 0.5', 'fix = -0.1', ["strategies.honest.fix", "-0.1", "greater than or equal to 0"]),
    ('false_fix = 0.3', 'false_fix = 2', ["strategies.seeder.false_fix", "2"]),
    ('bonus = 1.0', 'bonus = -1.0', ["judge.bonus", "-1.0", "greater than or equal to 0"]),
    ('d_mistake = 0.5', 'd_mistake = 1.01', ["judge.d_mistake", "1.01"]),
    ('phi = 1.0', 'phi = 3', ["prompts.phi", "3"]),
    ('phi = 1.0', 'phi = 1.0\nm0 = 0.7\nc0 = 0.7', ["prompts", "m0 + c0 = 1.4", "at most 1"]),
    ('rule = "best_of_n"', 'rule = "best_of_7"', ["selection.rule", "'best_of_7'", "threshold", "top_fraction"]),
    ('n = 4', 'n = 0', ["selection.n", "0", "greater than or equal to 1"]),
    ('n = 4', 'n = 2.5', ["selection.n", "2.5"]),
    ('rounds = 5', 'rounds = 0', ["rounds", "0"]),
    ('rounds = 5', 'rounds = 5\ncolour = "red"', ["colour", "unknown field", "allowed here", "strategies"]),
    ('[judge]', '[judge]\nbonsu = 1', ["judge.bonsu", "unknown field", "bonus"]),
    ('name = "seeder"', 'name = "honest"', ["strategy names must be unique", "honest"]),
    ('[[strategies]]\nname = "honest"', '[[strategies]]\nshare = 0.9\nname = "honest"\n', []),  # valid alone
    ('name = "seeder"', 'name = "seeder"\nshare = 0.5\n', []),  # valid: the rest split
    ('[judge]', '[judge]\ncredit = "sometimes"', ["judge.credit", "'sometimes'", "last_turn", "transcript"]),
    ('[prompts]', '[prompts]\nturns = 3', ["prompts.turns", "3"]),
]


@pytest.mark.parametrize("old,new,fragments", BAD_FIELDS)
def test_malformed_field_gives_one_clear_error(write_toml, old, new, fragments):
    assert old in MINIMAL
    path = write_toml(MINIMAL.replace(old, new, 1))
    if not fragments:
        load_scenario(path)
        return
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert str(path) in msg, msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    assert "Traceback" not in msg


def test_shares_that_do_not_sum_to_one(write_toml):
    text = MINIMAL.replace('name = "honest"', 'name = "honest"\nshare = 0.3').replace(
        'name = "seeder"', 'name = "seeder"\nshare = 0.3')
    with pytest.raises(ScenarioError, match="sum to 0.6"):
        load_scenario(write_toml(text))


def test_missing_required_and_bad_toml(write_toml):
    with pytest.raises(ScenarioError, match="'selection'.*required"):
        load_scenario(write_toml(MINIMAL.split("[selection]")[0]))
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(write_toml("name = \n"))
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario("does/not/exist.toml")
    with pytest.raises(ScenarioError, match="presets are:.*seed"):
        load_scenario("no_such_preset")


def test_overrides_address_any_field_and_strategies_by_name(write_toml):
    path = write_toml(MINIMAL)
    s = load_scenario(path, ["prompts.phi=0.25", "strategies.seeder.err=0.4", "selection.rule=threshold",
                             "judge.credit=transcript", "rounds=9"])
    assert (s.prompts.phi, s.strategies[1].err, s.selection.rule, s.judge.credit, s.rounds) == \
        (0.25, 0.4, "threshold", "transcript", 9)
    with pytest.raises(ScenarioError, match="no strategy named 'Z'.*honest"):
        load_scenario(path, ["strategies.Z.err=0.1"])
    with pytest.raises(ScenarioError, match="unknown field 'bogus'"):
        load_scenario(path, ["prompts.bogus=1"])
    with pytest.raises(ScenarioError, match="prompts.phi.*1.5"):
        load_scenario(path, ["prompts.phi=1.5"])
    with pytest.raises(ScenarioError, match="expected key=value"):
        parse_overrides(["prompts.phi"])


def test_resolved_toml_round_trips(write_toml):
    for preset in list_presets():
        s = load_scenario(preset)
        if s.kind == "pipeline":
            assert load_scenario(write_toml(to_toml(s), preset.name)) == s


def test_common_streams_give_both_arms_the_same_draws():
    """Common random numbers: with the control identical to the scenario, a sampled run's arms
    agree exactly seed by seed under control.common_streams, and not without it."""
    import seedbed
    from seedbed.results.metrics import final_values

    over = {"control.set": {"judge.bonus": 1.0}, "agent.conversations": 300, "rounds": 4, "agent.probes": 0}
    for common in (True, False):
        scn = load_scenario("seed", {**over, "control.common_streams": common})
        t = seedbed.run(scn, backend="agent", seeds=3).metrics
        a, b = final_values(t, "share/B", "scenario"), final_values(t, "share/B", "control")
        assert (a == b).all() == common, (common, a, b)
