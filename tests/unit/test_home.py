"""The home and its folders: made 0700, and refused when someone else could write to them
(real folders, real chmod and chown)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench import data_dir, disk_cached
from workbench.authoring.home import check_private, home_folder
from workbench.engine import records
from workbench.errors import UserError


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that keeps every bit, as some shared machines have: 0700 must not rely on it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_folders_are_made_0700_whatever_the_umask(
    open_umask: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "missing" / "parents" / "home"
    monkeypatch.setenv("PIPEBENCH_HOME", str(home))
    data = data_dir()
    runs = records.save_run({"run_id": "x", "started_at": "2026-01-01T00:00:00"}).parent

    @disk_cached
    def f(x: int) -> int:
        return x

    for folder in (tmp_path / "missing", tmp_path / "missing" / "parents", home, data, runs):
        assert mode(folder) == 0o700, folder
    assert mode(home / "cache") == 0o700


@pytest.mark.parametrize(
    "bits, who",
    [
        (0o770, "its group (mode 0770)"),
        (0o707, "others (mode 0707)"),
        (0o777, "its group and others (mode 0777)"),
        (0o1777, "its group and others (mode 1777)"),  # sticky: others still add files
    ],
)
def test_a_home_others_can_write_to_is_refused(pipebench_home: Path, bits: int, who: str) -> None:
    pipebench_home.mkdir()
    pipebench_home.chmod(bits)
    for use in (data_dir, lambda: home_folder("runs"), records.check_home, records.read_history):
        with pytest.raises(UserError) as err:
            use()
        msg = err.value.message
        assert msg.startswith(f"pipebench refuses the pipebench home {pipebench_home}: ")
        assert f"writable by {who}" in msg and f"chmod go-w {pipebench_home}" in msg
        assert "\n" not in msg


def test_a_subfolder_others_can_write_to_is_refused(pipebench_home: Path) -> None:
    (pipebench_home / "cache").mkdir(parents=True)
    pipebench_home.chmod(0o700)
    (pipebench_home / "cache").chmod(0o777)
    with pytest.raises(UserError, match=r"refuses the pipebench folder .*/cache: .*0777"):

        @disk_cached
        def f(x: int) -> int:
            return x


def test_a_folder_that_belongs_to_someone_else_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root can give a folder away for real
        folder = tmp_path / "theirs"
        folder.mkdir(mode=0o700)
        os.chown(folder, 65534, 65534)
        owner = "uid 65534"
    else:  # as anyone else, a folder root owns
        folder, owner = Path("/"), "root (uid 0)"
    with pytest.raises(UserError) as err:
        check_private(folder, "the pipebench home")
    msg = err.value.message
    assert f"it belongs to {owner}" in msg or f"it belongs to nobody ({owner})" in msg
    assert "not to you" in msg and "use a folder of your own" in msg


def test_a_private_folder_passes(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir(mode=0o755)
    check_private(tmp_path / "mine", "the pipebench home")  # readable by others is fine
    with pytest.raises(UserError, match="it is a file, not a folder"):
        (tmp_path / "file").write_text("")
        check_private(tmp_path / "file", "the pipebench home")
