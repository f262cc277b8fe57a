"""Run the real `pipebench` command in a child process and read what it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "pipelines"


@dataclass
class Result:
    code: int
    out: str
    err: str
    report: dict[str, Any] | None


def pipebench(
    *args: str, cwd: Path, timeout: float = 120, json_name: str | None = "run.json"
) -> Result:
    argv = [sys.executable, "-m", "workbench.cli.main", *args]
    if json_name and args and args[0] == "run":
        argv += ["--json", json_name]
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    report_path = cwd / json_name if json_name else None
    report = json.loads(report_path.read_text()) if report_path and report_path.exists() else None
    return Result(proc.returncode, proc.stdout, proc.stderr, report)
