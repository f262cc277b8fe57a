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


@pipeline
def unpicklable(n: int = 20):
    import threading

    lock = threading.Lock()

    def locked(x):
        with lock:
            return x

    return numbers(n), stage(locked, workers=2)
"""


def outputs(path):
    """The records a run wrote, in order."""
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]
