"""The regression gate: thresholds as CI writes them, each checked against the base, and
the caveats that leave it unable to tell."""

from __future__ import annotations

import pytest

from tests.unit.test_compare import MIB, make_report, schema1
from workbench.engine.compare import compare_reports
from workbench.engine.compare_caveats import SHORT, caveats, partial_reason, too_short
from workbench.engine.gate import (
    FAILED,
    GATE_FIGURES,
    PASSED,
    UNKNOWN,
    check,
    gate_result,
    parse_threshold,
)
from workbench.errors import UserError

BASE = make_report("base", 1000.0, 2.0, 100 * MIB, private_growth=2 * MIB)


def gate(new: dict, *specs: str, base: dict = BASE) -> tuple[str, list, list[str]]:
    runs = [base, new]
    checks = check(compare_reports(runs), [parse_threshold(s) for s in specs], 2)
    result, unsure = gate_result(checks, caveats(runs))
    return result, checks, unsure


def test_parse_signed_unsigned_and_per_stage_thresholds():
    t = parse_threshold("items_per_s:-5%")
    assert (t.name, t.which, t.limit, t.direction) == ("items_per_s", None, 0.05, -1)
    assert parse_threshold("peak_private:+10%").direction == 1
    assert parse_threshold("items_per_s:5%").direction == -1  # the worse direction
    assert parse_threshold("cpu_per_item:2.5%").direction == 1
    t = parse_threshold("self_per_item[parse: rows]:+3%")  # a stage name with a colon
    assert (t.name, t.which, t.limit) == ("self_per_item", "parse: rows", 0.03)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("items_per_s", "write NAME:CHANGE"),
        ("speed:-5%", "no figure 'speed'; the figures are items_per_s, "),
        ("items_per_s:-5", "is no percentage"),
        ("items_per_s:five%", "is no percentage"),
        ("peak_rss[x]:+5%", "peak_rss takes no [NAME]"),
        ("duration_s:5%", "give the direction that fails: duration_s:+5% or duration_s:-5%"),
    ],
)
def test_bad_thresholds_say_what_to_write(spec, says):
    with pytest.raises(UserError, match=None) as exc:
        parse_threshold(spec)
    assert says in exc.value.message


def test_a_fall_past_the_limit_fails_and_one_within_passes():
    slower = make_report("new", 940.0, 2.0, 100 * MIB)
    result, checks, _ = gate(slower, "items_per_s:-5%")
    (c,) = checks
    assert result == "failed" and c.outcome == FAILED
    assert (c.base, c.value, c.change) == (1000.0, 940.0, pytest.approx(-0.06))
    result, checks, _ = gate(make_report("new", 960.0, 2.0, 100 * MIB), "items_per_s:-5%")
    assert result == "passed" and checks[0].outcome == PASSED
    # a rise is no regression of items/s
    assert gate(make_report("new", 2000.0, 2.0, 100 * MIB), "items_per_s:-5%")[0] == "passed"


def test_memory_and_per_stage_thresholds():
    fatter = make_report("new", 1000.0, 2.0, 120 * MIB, private_growth=4 * MIB)
    result, checks, _ = gate(fatter, "peak_rss:+10%", "memory_per_item:+50%")
    assert result == "failed" and [c.outcome for c in checks] == [FAILED, FAILED]
    slow_read = make_report("new", 1000.0, 2.5, 100 * MIB)
    result, checks, _ = gate(slow_read, "self_per_item:+10%")
    assert {c.name: c.outcome for c in checks} == {
        "self_per_item[read]": FAILED,
        "self_per_item[tokenize]": PASSED,
    }
    assert gate(slow_read, "self_per_item[tokenize]:+10%")[0] == "passed"
    with pytest.raises(UserError, match="no stage 'parse' in these runs; stages: read, tokenize"):
        gate(slow_read, "self_per_item[parse]:+10%")


def test_a_short_run_cannot_tell_and_its_failure_is_not_counted():
    short = make_report("new", 500.0, 0.01, 100 * MIB, items=320)  # 5 batches in 0.64 s
    assert too_short(short) and not too_short(BASE)
    result, checks, unsure = gate(short, "items_per_s:-5%")
    assert checks[0].outcome == FAILED  # past the limit, but...
    assert result == "cannot tell"
    assert unsure == [
        "B is too short to tell: 5 batches in 640 ms, fewer than 10 batches and under 1.00 s (a fair compare needs at least 10 "
        "batches and 1.00 s)"
    ]
    assert [c.kind for c in caveats([BASE, short])] == [SHORT]


def test_partial_different_and_old_runs_cannot_tell():
    stopped = dict(make_report("new", 500.0, 2.0, 100 * MIB), status="stopped", stop_reason="user")
    assert partial_reason(stopped) == "was stopped by the user after 100 batches in 12.8 s"
    assert gate(stopped, "items_per_s:-5%")[0] == "cannot tell"
    limited = dict(stopped, stop_reason="max_seconds")  # its own limit: a sample, not partial
    assert partial_reason(limited) is None and gate(limited, "items_per_s:-5%")[0] == "failed"
    crashed = dict(stopped, status="crashed", error={"stage": "read"})
    assert partial_reason(crashed) == "crashed in stage read after 100 batches in 12.8 s"
    other = make_report("new", 500.0, 2.0, 100 * MIB, pipeline="other")
    result, _, unsure = gate(other, "items_per_s:-5%")
    assert result == "cannot tell" and unsure[0].startswith("different pipelines: A demo")
    result, _, unsure = gate(
        make_report("new", 500.0, 2.0, 100 * MIB), "items_per_s:-5%", base=schema1(BASE)
    )
    assert result == "cannot tell" and "A is a schema 1 record" in unsure[0]


def test_a_figure_missing_from_a_run_cannot_be_checked():
    result, checks, unsure = gate(
        make_report("new", 1000.0, 2.0, 100 * MIB), "peak_private:+10%", base=schema1(BASE)
    )
    assert checks[0].outcome == UNKNOWN and "peak_private cannot be checked" in unsure
    result, checks, unsure = gate(make_report("new", 1000.0, 2.0, 100 * MIB), "peak_gpu:+10%")
    assert result == "cannot tell" and checks[0].outcome == UNKNOWN  # no GPU section at all


def test_every_gate_figure_has_a_figure_in_a_full_report():
    full = make_report("x", 1000.0, 2.0, 100 * MIB, gpu=2**30, hit_rate=0.5)
    keys = {f.key.split("[")[0] for f in compare_reports([full, full]) if f.key}
    assert set(GATE_FIGURES) <= keys
