"""`pipebench compare` and `pipebench history` on known reports and records."""

from __future__ import annotations

import json

from tests.integration.helpers import pipebench
from tests.unit.test_compare import A, B
from workbench.engine import records


def test_compare_two_report_files_prints_the_ratios(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(A))
    (tmp_path / "b.json").write_text(json.dumps(B))
    r = pipebench("compare", "a.json", "b.json", "--json", "cmp.json", cwd=tmp_path, json_name=None)
    assert r.code == 0, r.err
    lines = r.out.splitlines()

    def row(*words):
        return next(ln for ln in lines if all(w in ln for w in words))

    assert "×2.50" in row("items/s", "1.00k", "2.50k") and "better" in row("items/s", "2.50k")
    assert "×0.50" in row("self time", "2.00 s", "1.00 s")
    assert "×1.50" in row("peak RSS", "100 MiB", "150 MiB") and "worse" in row("peak RSS")
    assert "×3.00" in row("peak GPU memory", "1.00 GiB", "3.00 GiB")
    assert "×1.60" in row("hit rate", "50.0%", "80.0%")
    out = json.loads((tmp_path / "cmp.json").read_text())
    ratios = {(f["section"], f["figure"]): f["ratio"] for f in out["figures"]}
    assert ratios[("run", "items/s")] == 2.5
    assert ratios[("stage read", "self time")] == 0.5
    assert ratios[("memory", "peak RSS")] == 1.5


def test_history_lists_records_and_compare_takes_their_numbers(tmp_path):
    other = dict(A, run_id="cccc55556666", pipeline="other", started_at="2026-01-03T00:00:00")
    for rep in (A, dict(B, started_at="2026-01-02T00:00:00"), other):
        records.save_run(rep)
    r = pipebench("history", cwd=tmp_path, json_name=None)
    assert r.code == 0, r.err
    assert "3 runs" in r.out and "other" in r.out
    r = pipebench("history", "demo", cwd=tmp_path, json_name=None)
    assert "2 runs" in r.out and "other" not in r.out.replace("other params", "")
    r = pipebench("compare", "1", "2", cwd=tmp_path, json_name=None)
    assert r.code == 0 and "×2.50" in r.out
    r = pipebench("compare", "aaaa", "-1", cwd=tmp_path, json_name=None)
    assert r.code == 0 and "B: other" in r.out
    r = pipebench("compare", "1", "9", cwd=tmp_path, json_name=None)
    assert r.code == 2 and "no run #9: 3 runs are recorded" in r.err
