"""The TUI's stage table keeps every figure on one line: at 58 columns (the panel at 80x24)
the batches column, then the items column, are left out rather than a figure wrapped."""

from __future__ import annotations

from workbench.engine.session import StageRow
from workbench.ui.widgets.stage_table import table_lines


def row(name: str, bottleneck: bool = False) -> StageRow:
    return StageRow(
        name, 1_000_000, 3_907, 639e3, 2.5e3, 1.04, 54.3, 0.0, 217e-6, bottleneck, True, False
    )


ROWS = [row("batch_generator"), row("normalize"), row("features", bottleneck=True)]


def test_columns_are_left_out_to_fit() -> None:
    wide = table_lines(ROWS, wide=False)
    assert "batches" in wide[0] and max(map(len, wide)) > 56
    fitted = table_lines(ROWS, wide=False, width=56)
    assert max(map(len, fitted)) <= 56
    assert "batches" not in fitted[0] and "items/s" in fitted[0] and "per batch" in fitted[0]
    assert "217 µs" in fitted[3] and "features ◀" in fitted[3]
    narrow = table_lines(ROWS, wide=False, width=44)
    assert "items " not in narrow[0] + " " and "items/s" in narrow[0]
