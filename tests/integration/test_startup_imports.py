"""What pipebench imports before a pipeline's first batch is start-up the user waits for
(issue 16: at most 0.15 s over a bare Python start). Creating a frozen dataclass costs ~1 ms
on Python 3.11, so the runner leaves out what a plain pipeline does not use: the kernels
and line-profile events, the memory, GPU and parallel sections' classes (the parent's), and
pipebench spawns its runner before it imports ``dataclasses`` at all. A real run checks the
runner as its first item comes out; the report still has every section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.helpers import pipebench

#: Modules a plain pipeline's runner must not have imported by its first batch.
NOT_BEFORE_THE_FIRST_BATCH = (
    "workbench.engine.protocol_tools",
    "workbench.engine.sections.memory",
    "workbench.engine.sections.gpu",
    "workbench.engine.sections.parallel",
    "workbench.authoring.parallel_backends",
    "msgspec",
    "typing_extensions",
    "uuid",
    "rich",
    "textual",
)

PLAIN = """
import json
import sys

from workbench import pipeline


def numbers(n):
    yield from range(n)


def look(items, out):
    for i, x in enumerate(items):
        if i == 0:
            with open(out, "w") as f:
                json.dump(sorted(sys.modules), f)
        yield x


@pipeline
def plain(n: int = 50, out: str = "modules.json"):
    return numbers(n), lambda items: look(items, out)
"""


def test_a_plain_pipeline_s_runner_starts_without_what_it_does_not_use(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text(PLAIN)
    out = tmp_path / "modules.json"
    r = pipebench("run", "plain.py", "--param", f"out={out}", cwd=tmp_path)
    assert r.code == 0, r.err
    loaded = set(json.loads(out.read_text()))
    assert "workbench.engine.probe" in loaded  # it was the runner that looked
    early = [m for m in NOT_BEFORE_THE_FIRST_BATCH if m in loaded]
    assert early == []
    # The report has every section still: the parallel one from the final reading, the
    # GPU one from the parent, with torch as the pipeline left it.
    assert r.report is not None
    assert r.report["parallel"]["stages"] == [] and r.report["parallel"]["backend"]
    assert r.report["gpu"]["torch"] == "torch not imported by the pipeline"


def test_pipebench_spawns_its_runner_before_it_imports_dataclasses() -> None:
    code = (
        "import sys\n"
        "from workbench.cli.main import main\n"
        "from workbench.engine.spawn import prestart\n"
        "print(sorted({'dataclasses', 'inspect', 'rich'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


CHANGES_ITS_ENV = """
import os

from workbench import pipeline


def numbers(n):
    yield from range(n)


def meddle(items):
    for i, x in enumerate(items):
        if i == 2:
            os.environ["PIPEBENCH_BACKEND"] = "dask"
        yield x


@pipeline
def changes_env(n: int = 20):
    return numbers(n), meddle
"""


def test_the_report_s_backend_is_the_run_s_choice_not_what_the_pipeline_set_later(
    tmp_path: Path,
) -> None:
    # The section of a run without parallel stages is read as the chain closes: the choice
    # in it is the environment's as the run started.
    (tmp_path / "changes_env.py").write_text(CHANGES_ITS_ENV)
    r = pipebench("run", "changes_env.py", "--backend", "threading", cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.report is not None
    assert r.report["parallel"]["backend"] == "threading"
    assert r.report["parallel"].get("problem") is None
