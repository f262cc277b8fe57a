"""The kernel-set authoring API, result checks and summary statistics (no subprocess)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import KernelDefinitionError, KernelSet, as_lists, kernels
from workbench.engine.kernels.check import canonical, compare
from workbench.engine.kernels.stats import summarize


def make_set(**kw) -> KernelSet:
    kw.setdefault("sizes", (10, 100))

    @kernels(**kw)
    def double(n: int):
        """Twice a vector."""
        return np.arange(n, dtype=np.float64)

    return double


def test_impl_registers_and_returns_the_function_unchanged():
    ks = make_set()

    def python(a):
        return [2 * x for x in a]

    assert ks.impl("python", prepare=as_lists)(python) is python
    ks.add("numpy", lambda a: a * 2)
    assert list(ks.impls) == ["python", "numpy"]
    assert ks.reference == "python"  # the first added, unless named
    assert ks.impls["python"].doc == ""
    assert ks.sizes == (10, 100) and ks.name == "double" and ks.doc == "Twice a vector."
    (arg,) = ks.inputs(5)  # a non-tuple is a single argument
    assert arg.shape == (5,)


def test_named_reference_and_declared_counts():
    ks = make_set(reference="numpy", flops=lambda n: 2 * n)
    ks.add("python", lambda a: a)
    ks.add("numpy", lambda a: a)
    assert ks.reference == "numpy" and ks.flops is not None and ks.flops(10) == 20


@pytest.mark.parametrize(
    "kw, text",
    [
        ({"sizes": ()}, "sizes"),
        ({"sizes": (0,)}, "sizes"),
        ({"check": "roughly"}, "check"),
    ],
)
def test_bad_definitions_are_one_line_errors(kw, text):
    with pytest.raises(KernelDefinitionError, match=text):
        make_set(**kw)


def test_duplicate_or_uncallable_implementations_are_rejected():
    ks = make_set()
    ks.add("numpy", lambda a: a)
    with pytest.raises(KernelDefinitionError, match="already has"):
        ks.add("numpy", lambda a: a)
    with pytest.raises(KernelDefinitionError, match="not callable"):
        ks.add("other", 3)  # type: ignore[arg-type]


def test_allclose_with_the_issue_tolerances():
    ref = np.linspace(1.0, 2.0, 50)
    assert compare(ref * (1 + 5e-8), ref).correct is True
    bad = compare(ref * (1 + 1e-6), ref)
    assert bad.correct is False and "values off" in bad.note and not bad.malformed
    assert compare(1e-11, 0.0).correct is True  # atol 1e-10
    assert compare(float("nan"), float("nan")).correct is True


def test_integers_and_dicts_are_exact():
    assert compare(np.array([1, 2, 3]), np.array([1, 2, 3])).correct is True
    assert compare(np.array([1, 2, 4]), np.array([1, 2, 3])).correct is False
    assert compare({1: 2, 3: 4}, {1: 2, 3: 4}).correct is True
    off = compare({1: 2, 3: 5}, {1: 2, 3: 4})
    assert off.correct is False and "key 3" in off.note
    missing = compare({1: 2}, {1: 2, 3: 4})
    assert missing.correct is False and "missing" in missing.note


def test_wrong_shape_or_type_is_malformed():
    shape = compare(np.zeros((3, 2)), np.zeros((2, 3)))
    assert shape.correct is False and shape.malformed and "wrong shape" in shape.note
    kind = compare({1: 1}, np.zeros(3))
    assert kind.malformed and "wrong type" in kind.note


def test_canonical_forms():
    from numba import types
    from numba.typed import Dict

    d = Dict.empty(key_type=types.int64, value_type=types.int64)
    d[3] = 4
    assert canonical(d) == {3: 4}
    assert isinstance(canonical([[1.0, 2.0], [3.0, 4.0]]), np.ndarray)
    assert canonical(np.float64(2.5)) == 2.5 and isinstance(canonical(np.float64(2.5)), float)
    assert compare(canonical([[1.0, 2.0]]), np.array([[1.0, 2.0]])).correct is True


def test_a_kernels_own_check_function():
    def same_sum(got, ref):
        return None if sum(got) == sum(ref) else "sums differ"

    assert compare([1, 2], [2, 1], check=same_sum).correct is True
    assert compare([1, 2], [2, 2], check=same_sum).note == "sums differ"
    assert compare([1], [2], check="none").correct is None


def test_summary_and_instability():
    s = summarize([1.0, 1.01, 1.02, 0.99, 1.0, 1.0, 1.01])
    assert s is not None and s.n == 7 and s.median == 1.0 and s.min == 0.99
    assert s.unstable is None
    wide = summarize([1.0, 1.3, 1.0, 1.3, 1.0, 1.3, 1.15])
    assert wide is not None and "IQR" in (wide.unstable or "")
    spiky = summarize([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0])
    assert spiky is not None and "slowest" in (spiky.unstable or "")
    assert summarize([]) is None
    one = summarize([2.0])
    assert one is not None and one.iqr == 0
