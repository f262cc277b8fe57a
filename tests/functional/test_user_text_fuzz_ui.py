"""Property-based test of hostile user text in the real app under Pilot (issue 13): a
pipeline whose prints, exception message, stage and pipeline names are arbitrary text runs
to its failure; the app keeps running, and the tree, header, log and error toast show the
text as text. A few examples per test run (each starts the app and a real runner child)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import textwrap
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from textual.widgets._toast import Toast

from tests.functional.conftest import make_app, notifications, run_to_end, select, wait_until
from tests.functional.test_run_control import header_text, log_text
from tests.fuzz_text import hostile_text, raw_controls
from workbench.text import printable

FEW = settings(
    max_examples=int(os.environ.get("PIPEBENCH_FUZZ_EXAMPLES", "3")),
    deadline=None,
    # each example is a real run: no shrinking (hundreds more runs); the failing example
    # is printed as it was generated
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

MODULE = """
import sys
import time
from workbench import pipeline, stage

TEXT = {text!r}


def src():
    i = 0
    while True:
        time.sleep(0.005)
        yield [i]
        i += 1


def talk(it):
    for i, b in enumerate(it):
        print("print:" + TEXT)
        print("stderr:" + TEXT, file=sys.stderr)
        if i == 5:
            raise ValueError("msg:" + TEXT)
        yield b


@pipeline(name="pipe:" + TEXT)
def p(batch_size: int = 1):
    return src(), stage(talk, name="stage:" + TEXT)


@pipeline
def plain(batch_size: int = 1):
    return src(), stage(talk)
"""


async def one_example(folder: Path, text: str) -> None:
    app = make_app(folder)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await select(pilot, "pipe:" + text)
        assert await run_to_end(pilot) == "failed"
        assert app.is_running
        message = printable("msg:" + text, newlines=True, limit=600)

        def said() -> bool:  # the message, or a toast cut at 600 characters that says so
            return any(message[:30] in n or "more characters]" in n for n in notifications(pilot))

        await wait_until(pilot, said, what="the failure's notification")
        shown = [header_text(app), log_text(app)]
        shown += [str(t.render().plain) for t in app.screen.query(Toast)]
        for screen_text in shown:
            assert not raw_controls(screen_text), raw_controls(screen_text)
        assert "print:" in shown[1] and "stderr:" in shown[1]
        # The app still answers: the next pipeline in the tree is selected and described.
        await select(pilot, "plain")


@FEW
@given(hostile_text(max_size=60, long_max=5000))
def test_the_app_shows_hostile_text_as_text(tmp_path: Path, text: str) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "hostile.py").write_text(textwrap.dedent(MODULE.format(text=text)))
    asyncio.run(one_example(folder, text))
