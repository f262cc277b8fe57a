"""The bare twin of a pipebench run: the same chain, built and drained by plain Python.

    python benchmarks/bare_twin.py path/to/module.py:name [name=value ...]

Imports the module, calls the pipeline's factory with its defaults (or the values given,
converted as ``pipebench run --param`` converts them), chains the stages and drains the
last one, as a user's own script would. Prints one JSON line: the batches drained and the
CLOCK_MONOTONIC time (ns) the first batch came out, for ``overhead.py`` to compare with the
real ``pipebench run`` of the same chain.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path


def main() -> int:
    target, *pairs = sys.argv[1:]
    path, _, name = target.partition(":")
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    pipe = getattr(module, name)
    kinds = {p.name: p.kind for p in pipe.params}
    params = {k: kinds[k](v) for k, v in (pair.split("=", 1) for pair in pairs)}
    source, *stages = pipe(**params)
    chain = iter(source)
    for s in stages:
        chain = s(chain)
    batches = 0
    first = None
    for _ in chain:
        if first is None:
            first = time.monotonic_ns()
        batches += 1
    print(json.dumps({"batches": batches, "first_batch_ns": first}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
