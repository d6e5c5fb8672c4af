"""Flash espforge and the stock esptool 5.6 side by side over the virtual chip's link model.

Both tools run in this process against `virtual://esp32c3?...&link=1`: bytes take 10 bit times
at the chip's current baud rate both ways, flash erase/program/MD5 take datasheet times. Each
cell is timed for both tools, in ROM mode (--no-stub) and stub mode (espforge uploads esptool's
own stub JSON, found in the installed esptool package: espforge ships none):

- write a flash image (bootloader, partition table, application, free space): cold (erased
  chip), warm (same image already there), warm with one 4 KB sector changed;
- read it back; erase the chip.

espforge writes with its defaults, which compare a file with the flash region by region (MD5
on the chip) and send and verify only the regions that differ.
Every time is set against the link's physical limit: the bytes that must cross the wire
(the compressed image for writes, the image for reads) x 10 bits / baud.

    python benchmarks/flash_bench.py [--size 4MB] [--app-size 1.5MB] [--bauds 115200,921600]
                                     [--modes rom,stub] [--ops cold,warm,warm4k,read,erase]

The full default run takes long at 115200 baud (a ROM reads 64 bytes per command);
`--size 1MB --app-size 384KB` gives a quick picture.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import serial

CHIP = "esp32c3"
FLASH_SIZE = 0x400000
SECTOR = 0x1000
BITS_PER_BYTE = 10
OPERATIONS = ("cold", "warm", "warm4k", "read", "erase")


def parse_size(text: str) -> int:
    units = {"MB": 1 << 20, "KB": 1 << 10}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text, 0)


def code_like(size: int, seed: int) -> bytes:
    """Bytes that compress about as well as firmware does (roughly 2:1)."""
    rng = random.Random(seed)
    chunks = []
    while sum(map(len, chunks)) < size:
        chunks.append(rng.randbytes(rng.randrange(16, 64)) + bytes(rng.randrange(8, 48)))
    return b"".join(chunks)[:size]


def flash_image(size: int, app_size: int) -> bytes:
    """Bootloader at 0, partition table at 0x8000, application at 0x10000, the rest free."""
    image = bytearray(b"\xff" * size)
    image[0:0x5000] = code_like(0x5000, 1)
    table = b"\xaa\x50\x00\x00" + bytes(28)  # one factory entry is enough to look the part
    image[0x8000 : 0x8000 + len(table)] = table
    image[0x10000 : 0x10000 + app_size] = code_like(app_size, 2)
    return bytes(image)


# ---------------------------------------------------------------------- running the tools


def run_quietly(function: Callable[[], object]) -> str | None:
    """Run a tool's main in this process; its error text, or None on success."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            function()
    except SystemExit as stop:
        return None if stop.code in (0, None) else sink.getvalue().strip()[-300:]
    except Exception as error:  # noqa: BLE001 - any tool failure becomes a table cell
        return f"{type(error).__name__}: {error}"[:300]
    return None


def esptool_command(port: str, baud: int, stub: bool, args: list[str]) -> Callable[[], object]:
    import esptool

    common = ["--chip", CHIP, "--port", port, "--before", "no-reset", "--after", "no-reset"]
    mode = [] if stub else ["--no-stub"]
    return lambda: esptool.main([*common, "--baud", str(baud), *mode, *args])


def espforge_command(
    port: str, baud: int, stub: bool, args: list[str], stub_dir: str
) -> Callable[[], object]:
    from espforge.cli.main import build_cli

    common = ["--chip", CHIP, "--port", port, "--before", "no-reset", "--after", "no-reset"]
    mode = ["--stub-dir", stub_dir] if stub else ["--no-stub"]
    full = [*common, "--baud", str(baud), *mode, *args]
    return lambda: build_cli().main(args=full, prog_name="espforge", standalone_mode=False)


@dataclass
class Cell:
    operation: str
    baud: int
    mode: str
    wire_bytes: int  # what must cross the link at least (0: nothing meaningful)
    esptool: float | str | None = None  # seconds, or why it could not run
    espforge: float | str | None = None

    @property
    def limit(self) -> float | None:
        return self.wire_bytes * BITS_PER_BYTE / self.baud if self.wire_bytes else None


class Bench:
    def __init__(self, folder: Path, image: bytes, stub_dir: str) -> None:
        self.folder = folder
        self.image = image
        self.changed = bytearray(image)
        self.changed[0x10000 + 0x20000 : 0x10000 + 0x21000] = code_like(SECTOR, 3)
        self.stub_dir = stub_dir
        (folder / "image.bin").write_bytes(image)
        (folder / "changed.bin").write_bytes(bytes(self.changed))
        self.flash = folder / "flash.bin"
        if "espforge.virtual" not in serial.protocol_handler_packages:  # virtual:// for esptool
            serial.protocol_handler_packages.append("espforge.virtual")

    def port(self) -> str:
        return f"virtual://{CHIP}?flash={self.flash}&link=1"

    def prepare(self, operation: str) -> None:
        content = b"\xff" * FLASH_SIZE if operation == "cold" else self.image
        self.flash.write_bytes(content.ljust(FLASH_SIZE, b"\xff"))

    def arguments(self, operation: str, tool: str) -> list[str]:
        size = str(len(self.image))
        image = str(self.folder / ("changed.bin" if operation == "warm4k" else "image.bin"))
        return {
            "cold": ["write-flash", "0", image],
            "warm": ["write-flash", "0", image],
            "warm4k": ["write-flash", "0", image],
            "read": ["read-flash", "0", size, str(self.folder / f"read-{tool}.bin")],
            "erase": ["erase-flash"],
        }[operation]

    def time_cell(self, operation: str, baud: int, stub: bool) -> Cell:
        wire = len(zlib.compress(self.image, 9)) if operation != "erase" else 0
        if operation == "read":
            wire = len(self.image)
        cell = Cell(operation, baud, "stub" if stub else "ROM", wire)
        for tool in ("esptool", "espforge"):
            self.prepare(operation)
            args = self.arguments(operation, tool)
            if tool == "esptool":
                command = esptool_command(self.port(), baud, stub, args)
            else:
                command = espforge_command(self.port(), baud, stub, args, self.stub_dir)
            started = time.monotonic()
            error = run_quietly(command)
            setattr(cell, tool, time.monotonic() - started if error is None else error)
        return cell


HEADER = (
    f"{'operation':<8} {'baud':>7} {'mode':<4} {'esptool s':>10} {'espforge s':>10} "
    f"{'ratio':>6} {'limit s':>8} {'espforge/limit':>14}"
)


def row(cell: Cell) -> str:
    def shown(value: float | str | None) -> str:
        return f"{value:.2f}" if isinstance(value, float) else "n/a"

    ratio = limit_share = "-"
    if isinstance(cell.esptool, float) and isinstance(cell.espforge, float):
        ratio = f"{cell.espforge / cell.esptool:.2f}"
    if cell.limit and isinstance(cell.espforge, float):
        limit_share = f"{cell.espforge / cell.limit:.2f}"
    limit = f"{cell.limit:.2f}" if cell.limit else "-"
    return (
        f"{cell.operation:<8} {cell.baud:>7} {cell.mode:<4} {shown(cell.esptool):>10} "
        f"{shown(cell.espforge):>10} {ratio:>6} {limit:>8} {limit_share:>14}"
    )


def render(cells: list[Cell]) -> str:
    lines = [HEADER, "-" * len(HEADER), *map(row, cells), ""]
    for cell in cells:
        for tool in ("esptool", "espforge"):
            value = getattr(cell, tool)
            if isinstance(value, str):
                lines.append(f"n/a: {tool} {cell.operation} {cell.mode} at {cell.baud}: {value}")
    times = {(c.operation, c.baud, c.mode): c.espforge for c in cells}
    for (operation, baud, mode), warm in times.items():
        cold = times.get(("cold", baud, mode))
        if operation == "warm4k" and isinstance(warm, float) and isinstance(cold, float):
            lines.append(
                f"espforge warm 4 KB change / cold write, {mode} at {baud}: {warm / cold:.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="4MB", type=parse_size)
    parser.add_argument("--app-size", default="1.5MB", type=parse_size)
    parser.add_argument("--bauds", default="115200,921600")
    parser.add_argument("--modes", default="rom,stub")
    parser.add_argument("--ops", default=",".join(OPERATIONS))
    options = parser.parse_args(argv)
    try:
        import esptool
    except ImportError:
        sys.exit("flash_bench needs the stock esptool 5.6 installed (pip install esptool==5.6.0)")
    stub_dir = os.path.join(os.path.dirname(esptool.__file__), "targets", "stub_flasher", "2")
    image = flash_image(options.size, options.app_size)
    print(
        f"{CHIP}, image {len(image)} bytes ({len(zlib.compress(image, 9))} compressed), "
        f"application {options.app_size} bytes; virtual chip with link=1"
    )
    print(HEADER)
    cells = []
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder), image, stub_dir)
        for baud in (int(b) for b in options.bauds.split(",")):
            for mode in options.modes.split(","):
                for operation in options.ops.split(","):
                    cells.append(bench.time_cell(operation, baud, mode == "stub"))
                    print(row(cells[-1]), flush=True)
    print()
    print(render(cells))


if __name__ == "__main__":
    main()
