"""USS and PSS (``smaps_rollup``, whose read walks the page tables: 0.3-1.5 ms for a
process of 150 MiB) are read again where they can have changed, not at every discovery
tick: where the process's ``status`` figures moved, a process of the tree came or went, a
second passed, or a PSS budget is checked. Real processes, real ``/proc``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from workbench.engine.sections import memory
from workbench.engine.sections.memory import ROLLUP_MAX_AGE_S, TreeSampler

GROW = "import sys\nheld = []\nfor line in sys.stdin:\n    held.append(bytearray(4 << 20))\n    print(len(held), flush=True)\n"  # noqa: E501


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids whose ``smaps_rollup`` was read (the real read still happens)."""
    seen: list[int] = []
    real = memory.read_rollup

    def spy(pid: int) -> tuple[int, int] | None:
        seen.append(pid)
        return real(pid)

    monkeypatch.setattr(memory, "read_rollup", spy)
    return seen


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    """A Python process that holds 4 MiB more each time it reads a line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", GROW], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def grow(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("more\n")
    proc.stdin.flush()
    proc.stdout.readline()


def test_uss_and_pss_are_read_again_only_where_they_can_have_moved(
    reads: list[int], child: subprocess.Popen[str]
) -> None:
    grow(child)  # started and settled
    tree = TreeSampler(child.pid)
    tree.sample(discover=True)
    assert reads == [child.pid]  # the first reading
    uss = tree.now.uss
    assert uss is not None and uss > 4 << 20
    tree.sample(discover=True)
    tree.sample(discover=False)
    assert reads == [child.pid]  # nothing moved: the last figures hold
    grow(child)
    tree.sample(discover=False)
    assert reads == [child.pid]  # only discovery ticks read it
    tree.sample(discover=True)
    assert reads == [child.pid] * 2  # 4 MiB more: read again, and it shows
    assert tree.now.uss is not None and tree.now.uss >= uss + (4 << 20) - (256 << 10)
    time.sleep(ROLLUP_MAX_AGE_S)
    tree.sample(discover=True)
    assert reads == [child.pid] * 3  # a second on, whatever moved


def test_a_process_that_comes_or_goes_has_every_process_read_again(reads: list[int]) -> None:
    # The tree's root is a shell whose children come and go.
    shell = subprocess.Popen(["/bin/sh", "-c", "sleep 0.3; sleep 30"])
    try:
        tree = TreeSampler(shell.pid)
        tree.sample(discover=True)
        deadline = time.monotonic() + 5
        while len(tree.procs) < 2 and time.monotonic() < deadline:  # the first sleep
            tree.sample(discover=True)
            time.sleep(0.02)
        assert len(tree.procs) >= 2
        reads.clear()
        while len({p.pid for p in tree.procs.values()}) < 3 and time.monotonic() < deadline:
            tree.sample(discover=True)  # the first sleep ends, the second starts
            time.sleep(0.02)
        assert shell.pid in reads  # the root's USS and PSS read again, though it is unchanged
    finally:
        shell.kill()
        shell.wait()


def test_a_pss_budget_reads_pss_at_every_discovery_tick(reads: list[int]) -> None:
    tree = TreeSampler(os.getpid(), budget=1 << 40, budget_on="pss")
    for _ in range(3):
        tree.sample(discover=True)
    assert reads.count(os.getpid()) == 3  # (and this process's children, if any)
