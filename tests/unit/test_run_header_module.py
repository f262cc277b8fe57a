"""The run header names the module when the pipeline's name does not: several modules may
each define a pipeline ``p``."""

from __future__ import annotations

from workbench.ui.widgets.run_header import module_label


def test_module_label() -> None:
    assert module_label("/data/exp1/train.py:p") == "train.py"
    assert module_label("pipelines/numpy_batches.py:numpy_batches") == "numpy_batches.py"
    assert module_label("mypkg.pipes:p") == "mypkg.pipes"
    assert module_label("/data/odd.py:tokenize (fast): v2") == "odd.py"
