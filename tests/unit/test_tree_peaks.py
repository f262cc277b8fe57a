"""A process's peak is never below its start, whichever reading came first: the runner's
own (protocol.Started) or the parent's."""

from __future__ import annotations

import dataclasses
import os

from workbench.engine.sections.memory import MemoryTotals, TreeSampler


def test_the_runners_start_reading_raises_its_peak() -> None:
    for start_first in (True, False):
        tree = TreeSampler(os.getpid())
        tree.sample(discover=True)
        now = tree.now
        higher = dataclasses.replace(now, rss=now.rss + 2**20, anon=now.anon + 2**20)
        assert isinstance(higher, MemoryTotals)
        if start_first:  # the runner's reading arrives before the parent marks the start
            tree.runner_start(higher, None)
            tree.mark_start()
        else:
            tree.mark_start()
            tree.runner_start(higher, None)
        (me,) = [p for p in tree.section().processes if p.pid == os.getpid()]
        assert me.peak.private >= higher.private and me.peak.rss >= higher.rss
        assert tree.section().peak.private >= tree.section().start.private
