"""The pipeline module the parallel integration tests run (written into a tmp folder).

``transform`` is the map-like stage: deterministic, with uneven durations so that workers
finish out of order; ``record`` writes every output to the file named by ``out``.
"""

SOURCE = """
import json
import os
import time

from workbench import pipeline, stage


def transform(x):
    time.sleep(0.002 * (x % 4))
    return {"x": x, "y": (x * 7919) % 1000003}


def dies_in_a_worker(x):
    if x == 150 and os.environ.get("PARMOD_MAIN") != str(os.getpid()):
        os._exit(3)
    return transform(x)


def numbers(n):
    yield from range(n)


def serial_transform(xs):
    for x in xs:
        yield transform(x)


def record(path):
    def record(items):
        with open(path, "w") as f:
            for item in items:
                f.write(json.dumps(item) + "\\n")
                yield item
    return record


@pipeline
def serial(n: int = 200, out: str = "out.jsonl"):
    return numbers(n), serial_transform, record(out)


@pipeline
def fanned(n: int = 200, out: str = "out.jsonl", ordered: bool = True, workers: int = 2):
    return numbers(n), stage(transform, workers=workers, ordered=ordered), record(out)


@pipeline
def dying(n: int = 300, out: str = "out.jsonl"):
    os.environ["PARMOD_MAIN"] = str(os.getpid())  # the runner; workers are other pids
    return numbers(n), stage(dies_in_a_worker, workers=2), record(out)


def raises_at_50(x):
    if x == 50:
        raise ValueError(f"item {x} is [bold]bad[/]")
    return transform(x)


def dies_at_once(x):
    os._exit(3)  # stands for a segfault in a C extension, in the first (warm-up) value


def progress(path):
    def progress(items):
        for i, item in enumerate(items):
            if i % 20 == 0:
                with open(path, "w") as f:
                    f.write(str(i))
            yield item
    return progress


@pipeline
def raising(n: int = 200):
    return numbers(n), stage(raises_at_50, workers=2)


@pipeline
def warmup_crash(n: int = 10):
    return numbers(n), stage(dies_at_once, workers=2)


@pipeline
def endless(progress_file: str = "progress.txt"):
    # runs until stopped, writing how far it got every 20 items
    return numbers(10**9), stage(transform, workers=2), progress(progress_file)


def hangs_at_30(x):
    if x == 30 and os.environ.get("PARMOD_MAIN") != str(os.getpid()):
        with open(os.environ["PARMOD_HANGING"], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(10**6)  # a call that never returns, in a worker
    return transform(x)


@pipeline
def hanging(n: int = 200, hanging_file: str = "hanging.txt"):
    os.environ["PARMOD_MAIN"] = str(os.getpid())
    os.environ["PARMOD_HANGING"] = hanging_file  # the workers start after this
    return numbers(n), stage(hangs_at_30, workers=2)


@pipeline
def unpicklable(n: int = 20):
    import threading

    lock = threading.Lock()

    def locked(x):
        with lock:
            return x

    return numbers(n), stage(locked, workers=2)
"""

#: A pipeline module whose stage needs what a worker elsewhere cannot import: a helper
#: module beside it (``BYVALUE_HELPER``), a module-level ``lru_cache`` helper, and
#: dataclasses as values and results. Its last stage checks every result.
BYVALUE = """
import functools
from dataclasses import dataclass

import pbv_helpers
from pbv_helpers import scale
from workbench import pipeline, stage


@dataclass
class Sample:
    x: int


@dataclass
class Out:
    y: int


@functools.lru_cache(maxsize=8)
def offset(k):
    return 1000 * k


def work(s):
    return Out(scale(s.x) + offset(s.x % 3) + pbv_helpers.scale(1))


def check(items):
    for i, o in enumerate(items):
        assert isinstance(o, Out), type(o)
        assert o.y == 3 * i + 1000 * (i % 3) + 3, (i, o)
        yield o


@pipeline
def byvalue(n: int = 60):
    return (Sample(i) for i in range(n)), stage(work, workers=2), check
"""

BYVALUE_HELPER = """
def scale(x):
    return 3 * x
"""


def outputs(path):
    """The records a run wrote, in order."""
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]
