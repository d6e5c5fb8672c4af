"""Shared test helpers: the fixtures beside the clone and the stock esptool as an oracle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def fixture_path(*parts: str) -> Path:
    """A file under ../shared/fixtures, or a skip saying it is absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"fixture {path} is absent (../shared/fixtures is not beside this clone)")
    return path


def fixture_files(kind: str, pattern: str = "*") -> list[Path]:
    """Fixture files of one kind for parametrising; empty when ../shared is absent."""
    folder = FIXTURES / kind
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def run_esptool(
    *args: str, cwd: Path | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the stock esptool 5.6 (test-only extra) as a subprocess."""
    pytest.importorskip("esptool", reason="esptool (test-only oracle) is not installed")
    return subprocess.run(
        [sys.executable, "-m", "esptool", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_espforge(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run espforge's command line as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "espforge", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
