"""Shared test helpers: the fixtures beside the clone and the stock esptool as an oracle."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner

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
    return run_stock_tool("esptool", *args, stdin=None, cwd=cwd, timeout=timeout)


def run_stock_tool(
    tool: str,
    *args: str | Path,
    stdin: str | None = "",
    cwd: Path | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the stock `esptool`, `espsecure` or `espefuse` 5.6 (test-only extra) as a subprocess
    (`stdin`: what is typed; None: this process's own standard input)."""
    pytest.importorskip(tool, reason=f"{tool} (test-only oracle) is not installed")
    return subprocess.run(
        [sys.executable, "-m", tool, *map(str, args)],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_espforge(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run espforge's command line as a user would (`stdin`: what is typed, if anything)."""
    return subprocess.run(
        [sys.executable, "-m", "espforge", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def esptool_stub_dir() -> Path:
    """The flasher-stub JSON files the stock esptool ships (its Apache-2.0/MIT set)."""
    esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")
    return Path(esptool.__file__).parent / "targets" / "stub_flasher" / "2"


def esptool_in_process(*args: str) -> str:
    """The stock esptool's main() in this process, so that virtual:// URLs resolve (our handler
    is registered); what it printed."""
    esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")
    if "espforge.virtual" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("espforge.virtual")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        esptool.main(list(args))
    return buffer.getvalue()


def espforge_in_process(*args: str, env: dict[str, str] | None = None) -> str:
    """espforge's command line in this process; what it printed (warnings included). Fails the
    test unless it succeeds."""
    from espforge.cli.main import build_cli

    result = CliRunner().invoke(build_cli(), list(args), env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.output
