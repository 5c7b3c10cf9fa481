"""The code keeps the project's lint and format gates (ruff, configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "filmkit", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_ruff_lint_passes() -> None:
    result = ruff("check", "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_formatted() -> None:
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
