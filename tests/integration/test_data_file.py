"""``workbench.data_file``: example data made once, whole, by any number of real processes at
once, with nothing left behind by an error, a Ctrl-C (a real SIGINT) or a kill."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.helpers import EXAMPLES
from workbench import data_file

# A slow maker: 20 chunks of 64 KiB, 20 ms apart; each make is logged, so the test can count.
MAKER = """
import os, signal, sys, time
from pathlib import Path
from workbench import data_file

def stop(*_):  # SIGTERM ends it as Ctrl-C does, as in a runner child
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored

go, log = Path(sys.argv[1]), Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)

def write(tmp):
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\\n")
    with open(tmp, "wb") as f:
        for i in range(20):
            f.write(bytes([i]) * 65536)
            f.flush()
            time.sleep(0.02)

path = data_file("chunks.bin", write)
print(path.stat().st_size, flush=True)
"""


def start_maker(tmp_path: Path, go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", MAKER, str(go), str(tmp_path / "makes.log")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def data_files(home: Path) -> list[str]:
    data = home / "data"
    return sorted(p.name for p in data.iterdir()) if data.is_dir() else []


def wait_for(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_concurrent_makers_make_the_file_once_and_leave_nothing_else(
    tmp_path: Path, pipebench_home: Path
) -> None:
    go = tmp_path / "go"
    procs = [start_maker(tmp_path, go) for _ in range(4)]
    time.sleep(0.5)  # every process waiting at the start line
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [e for _, e in outs]
    assert {o.strip() for o, _ in outs} == {str(20 * 65536)}
    assert len((tmp_path / "makes.log").read_text().split()) == 1  # one made it, 3 waited
    assert data_files(pipebench_home) == ["chunks.bin"]  # no temp file, no lock file
    data = (pipebench_home / "data" / "chunks.bin").read_bytes()
    assert data == b"".join(bytes([i]) * 65536 for i in range(20))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_mid_write_leaves_nothing_behind(
    tmp_path: Path, pipebench_home: Path, sig: signal.Signals
) -> None:
    go = tmp_path / "go"
    go.touch()
    proc = start_maker(tmp_path, go)
    wait_for(lambda: any(".tmp" in n for n in data_files(pipebench_home)))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert data_files(pipebench_home) == []


def test_what_a_killed_maker_left_goes_with_the_next_make(
    tmp_path: Path, pipebench_home: Path
) -> None:
    go = tmp_path / "go"
    go.touch()
    proc = start_maker(tmp_path, go)
    wait_for(lambda: any(".tmp" in n for n in data_files(pipebench_home)))
    proc.kill()  # SIGKILL: no finally runs, the kernel lets go of the lock
    proc.wait()
    left = data_files(pipebench_home)
    assert any(".tmp" in n for n in left) and ".chunks.bin.lock" in left
    path = data_file("chunks.bin", lambda tmp: tmp.write_bytes(b"whole"))
    assert path.read_bytes() == b"whole"
    assert data_files(pipebench_home) == ["chunks.bin"]


def test_a_make_that_fails_leaves_nothing(pipebench_home: Path) -> None:
    def half_then_fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        Path(f"{tmp}-journal").write_bytes(b"sqlite's companion")
        raise ValueError("disk on fire")

    with pytest.raises(ValueError, match="disk on fire"):
        data_file("x.db", half_then_fail)
    with pytest.raises(FileNotFoundError, match="without writing"):
        data_file("x.db", lambda tmp: None)
    assert data_files(pipebench_home) == []
    seen: list[Path] = []
    data_file("x.npy", lambda tmp: seen.append(tmp) or tmp.write_bytes(b"1"))
    assert seen[0].suffix == ".npy"  # np.save keeps a name that ends with .npy
    for bad in ("", "..", "a/b", "../x"):
        with pytest.raises(ValueError, match="not a file name"):
            data_file(bad, lambda tmp: None)


def pipebench_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench.cli.main", *args]


@pytest.mark.slow
def test_three_concurrent_first_runs_of_the_memmap_example(
    tmp_path: Path, pipebench_home: Path
) -> None:
    target = f"{EXAMPLES / 'numpy_batches.py'}:numpy_batches_memmap"
    argv = pipebench_argv("run", target, "--param", "size=300000", "--max-batches", "20")
    procs = [
        subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e.decode()[-2000:] for _, e in outs]
    assert data_files(pipebench_home) == ["features-300000x32-0.npy"]


@pytest.mark.slow
def test_ctrl_c_while_the_corpus_is_made_leaves_no_temp_file(
    tmp_path: Path, pipebench_home: Path
) -> None:
    target = f"{EXAMPLES / 'jsonl_tokens.py'}:jsonl_tokens"
    proc = subprocess.Popen(
        pipebench_argv("run", target, "--param", "rows=400000"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    data = pipebench_home / "data"
    wait_for(lambda: data.is_dir() and any(".tmp" in p.name for p in data.iterdir()), 60)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert data_files(pipebench_home) == []
