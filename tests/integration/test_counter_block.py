"""The counter block (the memfd the probe writes and the parent reads) is out of the
pipeline's reach: its size is sealed, so no descriptor of it can be truncated (which would
end every process mapping it, pipebench included, with SIGBUS), and the runner keeps no
descriptor of its own to it but the mapping's. A pipeline that truncates or writes to the
descriptors it did not open is measured as any other."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.integration.helpers import pipebench
from workbench.engine.probe import Block

MEDDLER = """
import errno
import os

from workbench import pipeline


def numbers(n):
    yield from range(n)


def meddle(items, out):
    seen = []
    for i, x in enumerate(items):
        if i == 3:
            for fd in range(3, 64):
                target = ""
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    continue
                if "pipebench-counters" not in target:
                    continue
                try:
                    os.ftruncate(fd, 0)
                    seen.append("truncated")
                except OSError as exc:
                    seen.append(errno.errorcode[exc.errno])
            try:
                os.write(3, b"a line for my own log\\n")
                seen.append("wrote to 3")
            except OSError as exc:
                seen.append(errno.errorcode[exc.errno])
            with open(out, "w") as f:
                f.write(" ".join(seen))
        yield x


@pipeline
def meddler(n: int = 40, out: str = "seen.txt"):
    return numbers(n), lambda items: meddle(items, out)
"""


def test_the_block_s_size_is_sealed() -> None:
    block = Block.create()
    try:
        assert block.fd is not None
        with pytest.raises(OSError) as info:
            os.ftruncate(block.fd, 0)
        assert info.value.errno == errno.EPERM
    finally:
        block.close()


def test_a_pipeline_that_meddles_with_descriptors_is_measured_as_any_other(tmp_path: Path) -> None:
    (tmp_path / "meddler.py").write_text(MEDDLER)
    seen = tmp_path / "seen.txt"
    r = pipebench("run", "meddler.py", "--param", f"out={seen}", cwd=tmp_path)
    assert r.code == 0, r.err  # not 135: pipebench was not ended by SIGBUS
    # The mapping's own descriptor could not be truncated; descriptor 3 is not the block.
    assert seen.read_text().split() == ["EPERM", "EBADF"]
    assert r.report is not None and r.report["status"] == "finished"
    assert r.report["items"] == 40
