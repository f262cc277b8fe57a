"""Kernel inputs: fingerprints that see a change, fresh copies, iterators refused, the
first-call limit and the per-call timing of an implementation that changes its input."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from numba import njit, prange

from workbench import kernels
from workbench.authoring.kernels import numba_parallel
from workbench.engine.kernels.inputs import fingerprint, make_inputs, refuse_iterators
from workbench.engine.kernels.limit import FirstCallTimeout, first_call_limit, read_watchdog
from workbench.engine.kernels.rowinfo import PER_CALL, RowInfo, pack, unpack
from workbench.engine.kernels.timing import TimingSettings, measure
from workbench.errors import UserError

FAST = TimingSettings(samples=3, min_sample_s=0.002, warmup_s=0.01, max_time_s=0.5)


@pytest.mark.parametrize(
    "make, change",
    [
        (lambda: np.arange(1000.0), lambda a: a.__setitem__(999, -1.0)),
        (lambda: np.arange(12.0).reshape(3, 4)[:, ::2], lambda a: a.__imul__(2.0)),  # a view
        (lambda: [1.0, [2.0, 3.0]], lambda a: a[1].append(4.0)),
        (lambda: {"w": np.ones(3), "k": [1, 2]}, lambda a: a["w"].__setitem__(0, 5.0)),
        (lambda: torch.ones(4, dtype=torch.bfloat16), lambda t: t.mul_(2)),
        (lambda: np.array([{"a": 1}, None], dtype=object), lambda a: a[0].update(a=2)),
    ],
)
def test_a_fingerprint_sees_a_change_and_only_a_change(make, change):
    value = make()
    before = fingerprint(value)
    assert before is not None
    assert fingerprint(make()) == before  # same contents, another object: same print
    change(value)
    assert fingerprint(value) != before


def test_an_unreadable_input_has_no_fingerprint():
    class Opaque:
        def __reduce__(self):
            raise TypeError("no")

    assert fingerprint(Opaque()) is None
    assert fingerprint((1, "a", None)) is not None


def test_each_copy_is_fresh_and_the_factory_runs_once():
    calls = []

    def factory(n):
        calls.append(n)
        return np.zeros(n), [0] * n

    inputs = make_inputs("k", 4, factory)
    a, _ = inputs.fresh()
    b, _ = inputs.fresh()
    a[0][:] = 7.0
    a[1].append(1)
    assert calls == [4]
    assert b[0].sum() == 0 and len(b[1]) == 4
    assert inputs.pristine[0].sum() == 0 and inputs.factory_s >= 0


@pytest.mark.parametrize("made", [(x for x in range(3)), iter([1, 2]), map(float, [1])])
def test_iterator_inputs_are_refused_in_one_line(made):
    with pytest.raises(UserError) as err:
        refuse_iterators("norms", 1000, (np.ones(2), made))
    message = err.value.message
    assert "\n" not in message
    assert message.startswith("kernel norms: its input factory returned a ")
    assert "(argument 2 at size 1,000)" in message and "list(...)" in message


def test_row_facts_travel_in_the_check_text():
    info = RowInfo(threads=4, parallel=True, mutates=False, inputs=PER_CALL, copy_s=1e-6)
    verdict, back = unpack(pack("allclose (max abs error 0.0e+00)", info))
    assert verdict == "allclose (max abs error 0.0e+00)" and back == info
    assert unpack(pack(None, RowInfo(threads=1))) == (None, RowInfo(threads=1))
    assert unpack("a user's own check text") == ("a user's own check text", RowInfo())


def test_a_parallel_numba_dispatcher_is_marked_by_itself():
    @njit(parallel=True)
    def par(a):
        s = 0.0
        for i in prange(a.shape[0]):
            s += a[i]
        return s

    @njit
    def serial(a):
        return a.sum()

    assert numba_parallel(par) and not numba_parallel(serial) and not numba_parallel(len)

    @kernels(sizes=(4,))
    def k(n):
        return np.ones(n)

    k.add("par", par)
    k.add("serial", serial)
    k.add("pool", lambda a: a.sum(), parallel=True)
    k.add("off", par, parallel=False)
    assert {label: impl.parallel for label, impl in k.impls.items()} == {
        "par": True,
        "serial": False,
        "pool": True,
        "off": False,
    }


def test_the_soft_limit_ends_pure_python_in_this_process():
    t0 = time.perf_counter()
    with pytest.raises(FirstCallTimeout), first_call_limit(0.2):
        while True:
            pass
    assert time.perf_counter() - t0 < 2.0
    with first_call_limit(5.0):  # nothing fires once the block is over
        pass
    time.sleep(0.01)


def test_the_watchdog_file_names_the_row_only_while_armed(tmp_path):
    path = tmp_path / "wd"
    with first_call_limit(30.0, str(path), {"kernel": "k", "size": 8, "impl": "x"}):
        assert '"impl": "x"' in path.read_text()
        assert read_watchdog(str(path)) is None  # armed, not fired
    assert path.read_text() == ""
    path.write_text('{"kernel": "k", "size": 8, "impl": "x"}\nTimeout (0:00:31)!\n')
    row, _ = read_watchdog(str(path))
    assert row["impl"] == "x"


def test_an_implementation_that_changes_its_input_is_timed_on_a_fresh_copy_per_call():
    made = []

    def fresh():
        a = np.ones(100)
        made.append(a)
        return (a,)

    def doubles(a):
        a *= 2.0
        return a

    m = measure(doubles, fresh(), FAST, fresh=fresh, per_call=True, copy_s=1e-6)
    calls = m.warmup_calls + m.loops * len(m.samples)
    assert len(made) == calls + 1  # one copy per call (and the one passed in)
    assert all(a[0] == 2.0 for a in made[1:])  # every call saw ones, never a doubled input
    assert m.summary is not None and m.summary.median > 0


def test_per_sample_copies_come_before_each_sample():
    made = []

    def fresh():
        made.append(1)
        return (np.ones(10),)

    m = measure(np.sum, fresh(), FAST, fresh=fresh)
    assert len(m.samples) == 3
    assert len(made) >= 1 + len(m.samples)  # warm-up batches take theirs too
