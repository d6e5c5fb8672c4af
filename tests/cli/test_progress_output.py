"""What the device commands show of their progress: plain lines in esptool's form when stdout is
not a terminal (an IDE pane, a CI log, a pipe), and on a terminal bars that leave no stale text
behind them."""

from __future__ import annotations

import fcntl
import io
import os
import re
import struct
import subprocess
import sys
import termios
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from conftest import esptool_in_process
from espforge.cli import progress
from espforge.cli.framework import output
from espforge.cli.main import build_cli
from espforge.cli.progress import ProgressLines, progress_line
from espforge.flash.progress import DeviceIdentity, EventKind, Operation, ProgressBus, ProgressEvent

# esptool 5.6 off a terminal: `{description} {30-wide bar} {percent}% {done}/{total} [{elapsed}] `
PROGRESS_LINE = re.compile(
    r"^(?P<description>(Writing at|Reading from) 0x[0-9a-f]{8}) (?P<bar>[━╸ ]{30}) "
    r"(?P<percent>[ \d]{3}\.\d)% \S+/\S+ \[\d+s\] $"
)


def espforge(*args: str):
    return CliRunner().invoke(build_cli(), list(args))


def progress_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if PROGRESS_LINE.match(line)]


def percent(line: str) -> float:
    match = PROGRESS_LINE.match(line)
    assert match, line
    return float(match["percent"])


# ------------------------------------------------------------------------- not a terminal


def test_a_piped_write_shows_progress_lines_spread_over_the_transfer(tmp_path: Path):
    data = tmp_path / "app.bin"
    data.write_bytes(os.urandom(40 * 1024))  # incompressible: written as it is, 1 KB a block
    result = espforge("--port", "virtual://esp32", "--no-stub", "write-flash", "0x10000", str(data))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    shown = progress_lines(result.stdout)
    assert len(shown) >= 10
    percents = [percent(line) for line in shown]
    assert percents == sorted(percents) and percents[-1] == 100.0
    gaps = [later - earlier for earlier, later in pairwise([0.0, *percents])]
    assert max(gaps) <= 10 + 2.5  # a tenth, and at most one 1 KB block more
    # Between the erase and the summary, as esptool prints them.
    wrote = next(index for index, line in enumerate(lines) if line.startswith("Wrote 40960 bytes"))
    assert lines.index(shown[0]) > lines.index("Took 0.00s to erase flash block.")
    assert lines.index(shown[-1]) == wrote - 1


def test_the_lines_are_those_esptool_prints_for_the_same_write(tmp_path: Path):
    """The same write by esptool 5.6 (ROM, stdout captured) prints a line per block; each of
    espforge's lines is one of them, bar, percent and counts alike."""
    data = tmp_path / "app.bin"
    data.write_bytes(os.urandom(12 * 1024))
    args = ["--port", "virtual://esp32", "--no-stub", "write-flash", "0x10000", str(data)]
    ours = espforge(*args)
    assert ours.exit_code == 0, ours.output
    theirs = esptool_in_process(*args)
    their_lines = progress_lines(theirs)
    assert len(their_lines) == 12
    assert set(progress_lines(ours.stdout)) <= set(their_lines)


def test_a_piped_read_shows_lines_in_esptools_form(tmp_path: Path):
    out = tmp_path / "read.bin"
    result = espforge(
        "--port", "virtual://esp32", "--no-stub", "read-flash", "0", "0x8000", str(out)
    )
    assert result.exit_code == 0, result.output
    shown = progress_lines(result.stdout)
    # A line a kilobyte was read; the first of them past a tenth.
    assert shown[0] == f"Reading from 0x00001000 ━━━╸{' ' * 26}  12.5% 4.00kB/32.00kB [0s] "
    assert shown[-1] == f"Reading from 0x00008000 {'━' * 30} 100.0% 32.00kB/32.00kB [0s] "


@pytest.mark.parametrize("flag", ["--no-progress", "--silent"])
def test_no_progress_lines_when_asked(tmp_path: Path, flag: str):
    data = tmp_path / "app.bin"
    data.write_bytes(os.urandom(8 * 1024))
    before = ["--silent"] if flag == "--silent" else []
    after = ["--no-progress"] if flag == "--no-progress" else []
    result = espforge(
        *before, "--port", "virtual://esp32", "--no-stub", "write-flash", *after, "0x0", str(data)
    )
    assert result.exit_code == 0, result.output
    assert progress_lines(result.output) == []
    assert "━" not in result.output


def event(done: int, total: int, elapsed: float, kind: EventKind = EventKind.PROGRESS):
    return ProgressEvent(
        kind,
        1,
        Operation.WRITE,
        f"Writing at {done:#010x}",
        done,
        total,
        elapsed,
        DeviceIdentity(""),
    )


def test_a_slow_task_gets_a_line_every_two_seconds_and_a_last_one():
    printed: list[str] = []
    lines = ProgressLines(printed.append)
    lines(event(0, 1000, 0.0, EventKind.STARTED))
    for done in range(1, 50):  # under 5 %, a second a unit
        lines(event(done, 1000, float(done)))
    assert [percent(line) for line in printed] == [n / 10 for n in range(2, 50, 2)]
    lines(event(49, 1000, 49.5, EventKind.FAILED))  # a failure says so itself, not a line
    assert len(printed) == 24


def test_a_finished_task_ends_on_its_last_state():
    printed: list[str] = []
    lines = ProgressLines(printed.append, ascii_only=True)
    lines(event(0, 4096, 0.0, EventKind.STARTED))
    lines(event(100, 4096, 0.0))  # under a tenth: not yet
    lines(event(100, 4096, 0.1, EventKind.FINISHED))
    assert printed == [f"Writing at 0x00000064 >{' ' * 29}   2.4% 100B/4.00kB [0s] "]


def test_the_line_form_for_long_and_unit_counted_tasks():
    assert progress_line(event(3 << 20, 4 << 20, 75.0)) == (
        f"Writing at 0x00300000 {'━' * 22}╸{' ' * 7}  75.0% 3.00MB/4.00MB [1:15] "
    )
    segments = ProgressEvent(
        EventKind.PROGRESS,
        2,
        Operation.LOAD_RAM,
        "Downloaded 64 bytes",
        1,
        3,
        0.5,
        DeviceIdentity(""),
    )
    assert progress_line(segments) == f"Downloaded 64 bytes {'━' * 10}{' ' * 20}  33.3% 1/3 [0s] "


# ------------------------------------------------------------------------------- terminal

CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


def screen(raw: str) -> list[str]:
    """What a terminal shows after `raw` (text, CR, LF and the CSI sequences rich sends for
    live displays: cursor up/down, erase in line; colours and cursor visibility ignored)."""
    rows: list[list[str]] = [[]]
    row = column = 0
    position = 0
    while position < len(raw):
        match = CSI.match(raw, position)
        if match:
            count = int(match[1]) if match[1].isdigit() else 1
            if match[2] == "A":
                row = max(0, row - count)
            elif match[2] == "B":
                row += count
            elif match[2] == "K":
                keep = 0 if match[1] == "2" else column
                rows[row][keep:] = []
            position = match.end()
            continue
        char = raw[position]
        position += 1
        if char == "\r":
            column = 0
        elif char == "\n":
            row, column = row + 1, 0
        elif char >= " ":
            line = rows[row]
            line.extend(" " * (column - len(line) + 1))
            line[column] = char
            column += 1
        while len(rows) <= row:
            rows.append([])
    return ["".join(line).rstrip() for line in rows]


def on_terminal(*args: str) -> str:
    """espforge run on a pseudo-terminal 200 columns wide, as a user runs it; what it sent
    there (stdout and stderr, as on the screen)."""
    pty = pytest.importorskip("pty", reason="needs a POSIX pseudo-terminal")
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "espforge", *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "200"},
    )
    os.close(terminal)
    received = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        received.append(chunk)
    process.wait(timeout=60)
    os.close(controller)
    return b"".join(received).decode()


def test_a_two_file_write_leaves_no_stale_bar(tmp_path: Path):
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(os.urandom(3072))
    second.write_bytes(os.urandom(6 * 1024))
    raw = on_terminal(
        *("--port", "virtual://esp32", "--no-stub", "write-flash"),
        *("0x8000", str(first), "0x10000", str(second)),
    )
    assert "━" in raw  # bars were drawn
    shown = screen(raw)
    assert not any("━" in line or "%" in line for line in shown), shown
    summaries = [line for line in shown if "Wrote " in line]
    assert [line.split(" in ")[0] for line in summaries] == [
        "Wrote 3072 bytes at 0x00008000",
        "Wrote 6144 bytes at 0x00010000",
    ]
    assert shown[shown.index(summaries[0]) - 1] == "Took 0.00s to erase flash block."


def test_a_failed_read_leaves_no_stale_bar(tmp_path: Path):
    hangs_up = "virtual://esp32?faults=disconnect_after=120"  # a ROM reads 64 bytes a command
    raw = on_terminal(
        "--port", hangs_up, "--no-stub", "read-flash", "0", "0x4000", str(tmp_path / "r")
    )
    assert "━" in raw
    shown = [line for line in screen(raw) if line]
    assert not any("━" in line or "%" in line for line in shown), shown
    assert shown[-2:] == [
        "Hard resetting via RTS pin...",
        f"A fatal error occurred: the serial port {hangs_up} failed (virtual chip hung up "
        "(injected disconnect)): was the board unplugged or reset? Reconnect it and try again",
    ]


def test_lines_printed_while_a_bar_is_drawn_stand_above_it():
    buffer = io.StringIO()
    bus = ProgressBus()
    console = Console(file=buffer, force_terminal=True, width=120, color_system=None)
    reading = bus.task(Operation.READ, 0x1000, "Reading from 0x00000000")
    with progress.show_progress(bus, True, console), reading as task:
        task.update(0x800, "Reading from 0x00000800")
        output("a line in the middle")
        output("a warning in the middle", err=True)  # stderr is no terminal here
        line, bar, *_ = screen(buffer.getvalue())
        assert line == "a line in the middle"
        assert bar.startswith("Reading from 0x0000")
    assert [line for line in screen(buffer.getvalue()) if line] == ["a line in the middle"]
