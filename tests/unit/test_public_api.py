"""The public authoring API: every name in ``workbench.__all__`` resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import workbench


@pytest.mark.parametrize("name", workbench.__all__)
def test_each_public_name_resolves_from_its_module(name: str) -> None:
    value = getattr(workbench, name)
    assert value.__module__.startswith("workbench.authoring."), value


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        workbench.nope  # noqa: B018


def test_the_command_does_not_import_the_authoring_api() -> None:
    """``import workbench`` alone (as every ``pipebench`` command does) stays cheap."""
    code = "import sys, workbench; print(sorted(m for m in sys.modules if 'authoring' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
