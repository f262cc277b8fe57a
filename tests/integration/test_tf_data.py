"""tf.data sources in real runner children with real TensorFlow: tensors counted by their
leading dimension, the note on what the probe cannot see, and the example listed as
unavailable where TensorFlow is missing."""

from __future__ import annotations

import importlib.util

import pytest

from tests.integration.helpers import EXAMPLES
from workbench.engine.autofind import TF_DATA_NOTE
from workbench.engine.catalog import discover
from workbench.engine.follow import follow_run
from workbench.engine.runner import RunOptions
from workbench.engine.session import report

HAS_TF = importlib.util.find_spec("tensorflow") is not None
needs_tf = pytest.mark.skipif(
    not HAS_TF, reason="TensorFlow is not installed (pip install -e '.[tf]')"
)

TENSORS = """
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
from workbench import pipeline


# Seed 001's generator and from_generator call, as the article writes them.
def gen():
    data = np.arange(10000)
    batch_size = 128
    n = len(data)
    for i in range(0, n, batch_size):
        yield data[i:i + batch_size]


def ragged(batches):
    for b in batches:  # b: a tf.Tensor of shape (n,)
        n = int(b.shape[0])
        yield tf.RaggedTensor.from_row_lengths(tf.range(n * 2), tf.fill([n], 2))


def sparse(batches):
    for r in batches:  # r: a RaggedTensor of n rows
        yield r.to_sparse()


@pipeline(requires=["tensorflow"])
def tensors(n: int = 0):
    output_types = tf.int32
    output_shapes = (None,)
    dataset = tf.data.Dataset.from_generator(
        gen, output_types=output_types, output_shapes=output_shapes
    )
    return dataset.map(lambda x: x * 2, num_parallel_calls=2).prefetch(2), ragged, sparse
"""


@needs_tf
def test_tf_tensors_count_their_leading_dimension(tmp_path, write_module):
    path = write_module("tensors", TENSORS)
    state = follow_run(str(path), RunOptions(max_seconds=120.0))
    assert state.status == "finished", (state.message, state.log_tail)
    rep = report(state)
    stages = {s["name"]: (s["items"], s["batches"]) for s in rep["stages"]}
    # 10,000 values in 79 tensors (78 of 128, one of 16), as RaggedTensors, as SparseTensors.
    assert stages == {"tf.data": (10000, 79), "ragged": (10000, 79), "sparse": (10000, 79)}
    assert rep["notes"][0]["about"] == "tf.data" and rep["notes"][0]["text"] == TF_DATA_NOTE
    assert any(TF_DATA_NOTE in line for line in rep["log_tail"])


@needs_tf
def test_the_tf_example_runs_and_says_what_the_probe_misses():
    state = follow_run(
        f"{EXAMPLES}/tf_batches.py:tf_batches",
        RunOptions(params={"size": "20000", "batch_size": "500"}, max_seconds=120.0),
    )
    assert state.status == "finished", (state.message, state.log_tail)
    rep = report(state)
    assert [(s["name"], s["items"], s["batches"]) for s in rep["stages"]] == [
        ("tf.data", 20000, 40),
        ("to_numpy", 20000, 40),
        ("features", 20000, 40),
    ]
    assert [n["about"] for n in rep["notes"]] == ["tf.data"]
    assert rep["cpu_s"] > 0


def test_the_tf_example_is_listed_with_its_reason_where_tensorflow_is_missing():
    (module,) = discover(EXAMPLES / "tf_batches.py")
    assert module.error is None
    (info,) = module.pipelines
    if HAS_TF:
        assert info.available
    else:
        assert info.reason == "needs tensorflow, which is not installed (pip install tensorflow)"
