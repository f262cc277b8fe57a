"""``pipebench`` in a real terminal (tmux): run an example, read the screen, stop, quit,
and hang up the terminal mid-run; no process may be left behind."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

EXAMPLES = Path(__file__).resolve().parents[2] / "pipelines"


class Tmux:
    """One tmux server of our own (its own socket), one session running pipebench."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def start(self, command: str, width: int, height: int) -> int:
        self.tmux("new-session", "-d", "-s", "pb", "-x", str(width), "-y", str(height), command)
        return int(self.tmux("display-message", "-p", "-t", "pb", "#{pane_pid}").strip())

    def keys(self, *keys: str) -> None:
        """Press keys one at a time, as a person would: Textual runs a key's binding
        after the keys that arrived with it in one read, so keys sent together (C-a then
        a digit) could take effect out of order."""
        for key in keys:
            self.tmux("send-keys", "-t", "pb", key)
            time.sleep(0.05)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "pb", "-l", text)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "pb", check=False)

    def alive(self) -> bool:
        return (
            self.tmux("has-session", "-t", "pb", check=False) != ""
            or subprocess.run(
                ["tmux", "-L", self.socket, "has-session", "-t", "pb"],
                capture_output=True,
                timeout=10,
            ).returncode
            == 0
        )

    def wait_for(self, check: Callable[[str], object], what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PIPEBENCH_HOME for the module: the corpus of a size is generated once."""
    return tmp_path_factory.mktemp("e2e-home")


#: A run long enough to be seen going and stopped (tens of seconds), with snapshots at a
#: regular pace (numpy_batches).
LONG = ("numpy_batches", [("batch_size", "4"), ("size", "8000000"), ("dim", "4")])


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(f"pipebench-e2e-{tmp_path.name}")
    yield t
    t.tmux("kill-server", check=False)


def launch(term: Tmux, tmp_path: Path, home: Path, width: int = 100, height: int = 30) -> int:
    """Start ``pipebench`` on the examples folder; returns its pid."""
    # COLUMNS/LINES can sit in this process's C environment (set by a library): they would
    # pin the app to 80x24 whatever the pane's size, so they are dropped.
    command = (
        f"cd {shlex.quote(str(tmp_path))} && exec env -u COLUMNS -u LINES "
        f"PIPEBENCH_HOME={shlex.quote(str(home))} TERM=xterm-256color "
        f"{shlex.quote(sys.executable)} -m workbench.cli.main {shlex.quote(str(EXAMPLES))}"
    )
    pid = term.start(command, width, height)
    term.wait_for(lambda s: "jsonl_tokens" in s and "Quit" in s, "the pipeline tree")
    return pid


def described(screen: str) -> str | None:
    """The item the description under the tree names (its first line), or None."""
    for line in screen.splitlines()[1:]:
        if line.startswith("─"):  # the rule over the description
            continue
        if line.startswith(" ") and not line.startswith("  "):
            return line[1:22].split(" ")[0] or None
    return None


def select(term: Tmux, name: str) -> None:
    """Move the tree's cursor until the pipeline ``name`` is described (its name heads the
    description under the tree); after each move, wait for the description to follow (a
    busy machine can take more than a frame)."""
    term.keys(*["Up"] * 20)
    time.sleep(0.3)
    for _ in range(40):
        screen = term.screen()
        if re.search(rf"^ {name}\s", screen, re.MULTILINE):
            return
        before = described(screen)
        term.keys("Down")
        deadline = time.monotonic() + 3
        while described(term.screen()) == before and time.monotonic() < deadline:
            time.sleep(0.05)
    raise AssertionError(f"{name} not found:\n{term.screen()}")


def set_params(term: Tmux, pipeline: str, values: list[tuple[str, str]]) -> None:
    """Type ``values`` into the first fields of the parameters dialog, in order."""
    term.keys("p")
    term.wait_for(lambda s: f"Parameters of {pipeline}" in s, "the parameters dialog")
    for name, value in values:
        # The first field has the focus; Tab moves to the next. On a loaded machine the
        # dialog can be drawn a frame before its field takes the focus, and keys sent in
        # between reach no field: type again until the value shows.
        for attempt in range(3):
            term.keys("C-a", "C-k")
            time.sleep(0.1)
            term.type(value)
            try:
                term.wait_for(
                    lambda s, n=name, v=value: re.search(rf"{n} \(int\)\s+{v}\s", s),
                    f"{name}={value} typed",
                    timeout=5,
                )
                break
            except AssertionError:
                if attempt == 2:
                    raise
        term.keys("Tab")
    term.keys("Enter")
    term.wait_for(lambda s: "Parameters of" not in s, "the dialog to close")


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def is_runner(p: psutil.Process) -> bool:
    """A runner: spawned cold (``engine.child``), or forked from a warm server (it has
    the server's command line, and the server is its parent)."""
    cmd = " ".join(p.cmdline())
    if "workbench.engine.child" in cmd:
        return True
    parent = p.parent()
    return (
        "workbench.engine.warm" in cmd
        and parent is not None
        and ("workbench.engine.warm" in " ".join(parent.cmdline()))
    )


def child_pid(term: Tmux, ui_pid: int) -> int:
    """The runner of the pipebench process (the only one it has during a run)."""
    every = psutil.Process(ui_pid).children(recursive=True)
    runners = [p for p in every if is_runner(p)]
    assert len(runners) == 1, f"descendants of {ui_pid}: {every}; the screen:\n{term.screen()}"
    return runners[0].pid


def test_run_stop_quit(term: Tmux, tmp_path: Path, home: Path) -> None:
    records_before = set((home / "runs").glob("*.json"))
    ui_pid = launch(term, tmp_path, home)
    select(term, "jsonl_tokens")
    set_params(term, "jsonl_tokens", [("batch_size", "64"), ("rows", "20000")])
    term.keys("r")
    screen = term.wait_for(lambda s: "✓ finished" in s, "the run to finish")
    for stage in ("read_jsonl", "tokenize", "to_features"):
        assert stage in screen
    rate = re.search(r"✓ finished\s+\S+ \S+\s+([\d.]+)(k|M)? items/s", screen)
    assert rate and float(rate.group(1)) > 0, screen
    assert re.search(r"read_jsonl\s+20,000\s+313\s+[\d.]+k?", screen), screen
    assert "◀ bottleneck" in screen

    # A longer run, stopped with s.
    select(term, LONG[0])
    set_params(term, *LONG)
    term.keys("r")
    term.wait_for(lambda s: "● running" in s, "the run to be going", timeout=60)
    runner = child_pid(term, ui_pid)
    term.keys("s")
    term.wait_for(lambda s: "■ stopped" in s, "the run to stop")
    assert gone(runner)

    # Another run, and q while it goes: the child is stopped first, then the app ends.
    term.keys("r")
    term.wait_for(lambda s: "● running" in s, "the run to be going", timeout=60)
    runner = child_pid(term, ui_pid)
    term.keys("q")
    deadline = time.monotonic() + 15
    while term.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not term.alive(), term.screen()
    assert gone(ui_pid) and gone(runner)
    assert len(set((home / "runs").glob("*.json")) - records_before) == 3


def test_hangup_leaves_no_process(term: Tmux, tmp_path: Path, home: Path) -> None:
    ui_pid = launch(term, tmp_path, home, 80, 24)
    select(term, LONG[0])
    set_params(term, *LONG)
    term.keys("r")
    term.wait_for(lambda s: "● running" in s, "the run to be going", timeout=60)
    runner = child_pid(term, ui_pid)
    term.tmux("kill-server")  # the terminal goes away: SIGHUP
    assert gone(ui_pid, 15), "pipebench outlived its terminal"
    assert gone(runner, 15), "the runner child outlived pipebench"


def runners_of(home: Path) -> list[psutil.Process]:
    """Runner children of pipebench that use ``home``, wherever they hang in the tree."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "workbench.engine.child" not in " ".join(proc.info["cmdline"] or ()):
                continue
            if proc.environ().get("PIPEBENCH_HOME") == str(home):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_tune_the_batch_size_with_plus_at_80x24(term: Tmux, tmp_path: Path) -> None:
    """At 80x24: run numpy_batches at batch size 4, press + three times while it runs (each
    press stops the run going and starts one at twice the size), see the three stopped runs
    with their items/s in the runs table, open the tuning view, quit: no process is left."""
    home = tmp_path / "home"  # a home of its own: exactly this test's runs in the table
    ui_pid = launch(term, tmp_path, home, 80, 24)
    select(term, LONG[0])
    set_params(term, *LONG)
    term.keys("r")
    runners = set()
    for size in (4, 8, 16, 32):
        term.wait_for(
            lambda s, n=size: (
                f"batch_size={n} " in s and re.search(r"● running\s+\S+ \S+\s+[\d.]+k? items/s", s)
            ),
            f"the run at batch_size={size} to be going",
            timeout=60,
        )
        runners.add(child_pid(term, ui_pid))
        if size < 32:
            time.sleep(1.5)  # a result: a run stopped before 1 s is left out of the tuning view
            term.keys("+")
    screen = term.wait_for(
        lambda s: all(
            re.search(rf"\b{n}\s+{b}\s+[\d.]+k?\s+[\d.]+ [KMG]iB\s+■ stopped", s)
            for n, b in ((1, 4), (2, 8), (3, 16))
        ),
        "three stopped runs with their items/s in the runs table",
        timeout=30,
    )
    assert "runs of numpy_batches (3 recorded)" in screen, screen
    term.keys("t")
    screen = term.wait_for(
        lambda s: "items/s vs batch size (log2)" in s and "best: batch_size" in s,
        "the tuning view",
    )
    assert re.search(r"3 results at 3 sizes", screen), screen
    assert re.search(r"^\s+4\s+8\s+16\s*$", screen, re.MULTILINE), screen  # the log2 axis
    term.keys("Escape")
    term.wait_for(lambda s: "● running" in s, "the main screen again")
    term.keys("q")
    deadline = time.monotonic() + 20
    while term.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not term.alive(), term.screen()
    assert gone(ui_pid)
    assert all(gone(pid) for pid in runners)
    assert runners_of(home) == []  # ps: no runner of this home left anywhere
    assert len(list((home / "runs").glob("*.json"))) == 4  # the last run kept its record
