"""Time espforge against the stock esptool 5.6 on the same inputs, in the same run.

Each case runs both tools as subprocesses of this interpreter (`python -m espforge ...` and
`python -m esptool ...`), keeps the best wall-clock time of N runs, checks that both wrote the
same bytes, and compares the ratio espforge/esptool with the case's target.

    python benchmarks/run.py [--runs N] [--only TEXT] [--check]

It exits 0 whatever the results (it is a report) unless --check is given.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from espforge.demo import demo_app_elf, demo_bootloader_elf

FIXTURE_ELFS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "elf"

BANNER = re.compile(r"(esptool|espforge) v\S+$")
OUT = "{out}"  # stands for the tool's own output folder in a case's arguments
BIG_APP_TEXT = 0x100000  # 1 MB of flash code ...
BIG_APP_RODATA = 0x70000  # ... and 448 KB of flash data: a ~1.5 MB application
FLASH_ARGS = ["--flash-mode", "dio", "--flash-freq", "80m", "--flash-size", "4MB"]
# Fixture ELFs esptool refuses to convert (the test suites cover the error); not timed.
FIXTURE_CHIPS = {"esp32-": "esp32", "esp32c6-": "esp32c6", "esp8266-": "esp8266"}
SKIPPED_FIXTURES = {"esp32-too-many-sections.elf"}


@dataclass(frozen=True)
class Case:
    """One comparison: the same arguments for both tools, `{out}` naming each tool's folder."""

    name: str
    arguments: tuple[str, ...]
    target_ratio: float = 1.0  # espforge's time may be at most this share of esptool's
    compare: Literal["files", "stdout", "nothing"] = "files"


@dataclass
class Timing:
    best: float = float("inf")
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # file name (or "stdout") -> sha256


@dataclass(frozen=True)
class Result:
    case: Case
    esptool: Timing
    espforge: Timing

    @property
    def ratio(self) -> float | None:
        if self.esptool.error or self.espforge.error:
            return None
        return self.espforge.best / self.esptool.best

    @property
    def verdict(self) -> str:
        if self.esptool.error:
            return "SKIP"  # the reference itself fails: nothing to compare against
        if self.espforge.error:
            return "FAIL"
        same = self.case.compare == "nothing" or self.espforge.outputs == self.esptool.outputs
        ratio = self.ratio
        return "PASS" if same and ratio is not None and ratio <= self.case.target_ratio else "FAIL"

    @property
    def note(self) -> str:
        if self.esptool.error:
            return f"esptool fails: {self.esptool.error}"
        if self.espforge.error:
            return f"espforge fails: {self.espforge.error}"
        if self.case.compare == "nothing":
            return ""
        if self.espforge.outputs == self.esptool.outputs:
            return f"same {self.case.compare}"
        return "FILES DIFFER" if self.case.compare == "files" else "STDOUT DIFFERS"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _outputs(case: Case, folder: Path, stdout: str) -> dict[str, str]:
    """Digests of what the run produced, for comparing the two tools."""
    if case.compare == "files":
        return {path.name: _digest(path.read_bytes()) for path in sorted(folder.iterdir())}
    if case.compare == "stdout":
        lines = stdout.splitlines()
        if lines and BANNER.match(lines[0]):
            lines = lines[1:]  # each tool names itself first
        return {"stdout": _digest("\n".join(lines).encode())}
    return {}


def _run_once(module: str, case: Case, workdir: Path, timing: Timing) -> None:
    """One run of `python -m module` with the case's arguments, recorded into `timing`."""
    out = workdir / module / case.name.replace(" ", "_")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    argv = [sys.executable, "-m", module, *(a.replace(OUT, str(out)) for a in case.arguments)]
    start = time.perf_counter()
    completed = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        lines = (completed.stderr or completed.stdout).strip().splitlines()
        timing.error = lines[-1][:70] if lines else f"exit code {completed.returncode}"
        return
    timing.best = min(timing.best, elapsed)
    timing.outputs = _outputs(case, out, completed.stdout)


def time_case(case: Case, workdir: Path, runs: int) -> Result:
    """Best of `runs` runs of each tool, alternating so drift in machine load hits both."""
    esptool, espforge = Timing(), Timing()
    for _ in range(runs):
        for module, timing in (("esptool", esptool), ("espforge", espforge)):
            if timing.error is None:
                _run_once(module, case, workdir, timing)
    return Result(case, esptool, espforge)


def partition_table(entries: Sequence[tuple[str, int, int, int, int]]) -> bytes:
    """An ESP-IDF binary partition table: (name, type, subtype, offset, size) rows, MD5 row,
    0xFF up to 0xC00 bytes."""
    rows = b"".join(
        struct.pack("<2sBBII16sI", b"\xaa\x50", kind, subtype, offset, size, name.encode(), 0)
        for name, kind, subtype, offset, size in entries
    )
    md5_row = b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(rows).digest()
    return (rows + md5_row).ljust(0xC00, b"\xff")


def prepare_inputs(folder: Path) -> dict[str, Path]:
    """Write the ELF files, and the images made from them by esptool (the reference), that the
    cases share."""
    inputs = {
        "app_elf": folder / "big-app.elf",
        "bootloader_elf": folder / "bootloader.elf",
        "app": folder / "big-app.bin",
        "bootloader": folder / "bootloader.bin",
        "partitions": folder / "partitions.bin",
    }
    inputs["app_elf"].write_bytes(demo_app_elf(BIG_APP_TEXT, BIG_APP_RODATA))
    inputs["bootloader_elf"].write_bytes(demo_bootloader_elf())
    inputs["partitions"].write_bytes(
        partition_table(
            [
                ("nvs", 0x01, 0x02, 0x9000, 0x6000),
                ("phy_init", 0x01, 0x01, 0xF000, 0x1000),
                ("factory", 0x00, 0x00, 0x10000, 0x1F0000),
            ]
        )
    )
    for elf, image in (("app_elf", "app"), ("bootloader_elf", "bootloader")):
        convert = ["--chip", "esp32c3", "elf2image", *FLASH_ARGS, "-o", str(inputs[image])]
        subprocess.run(
            [sys.executable, "-m", "esptool", *convert, str(inputs[elf])],
            check=True,
            capture_output=True,
        )
    return inputs


def fixture_cases() -> list[Case]:
    if not FIXTURE_ELFS.is_dir():
        return []
    cases = []
    for elf in sorted(FIXTURE_ELFS.glob("*.elf")):
        chip = next((c for prefix, c in FIXTURE_CHIPS.items() if elf.name.startswith(prefix)), None)
        if chip is None or elf.name in SKIPPED_FIXTURES:
            continue
        arguments = ("--chip", chip, "elf2image", "-o", f"{OUT}/{elf.stem}.bin", str(elf))
        cases.append(Case(f"elf2image {elf.name}", arguments))
    return cases


def all_cases(inputs: dict[str, Path]) -> list[Case]:
    layout = [
        "0x0",
        str(inputs["bootloader"]),
        "0x8000",
        str(inputs["partitions"]),
        "0x10000",
        str(inputs["app"]),
    ]
    merge = ("--chip", "esp32c3", "merge-bin")
    big_elf = str(inputs["app_elf"])
    return [
        Case(
            "elf2image 1.5 MB app",
            ("--chip", "esp32c3", "elf2image", *FLASH_ARGS, "-o", f"{OUT}/app.bin", big_elf),
        ),
        *fixture_cases(),
        Case(
            "merge-bin 4 MB raw",
            (*merge, "--pad-to-size", "4MB", "-o", f"{OUT}/flash.bin", *layout),
        ),
        Case("merge-bin hex", (*merge, "--format", "hex", "-o", f"{OUT}/flash.hex", *layout)),
        Case("merge-bin uf2", (*merge, "--format", "uf2", "-o", f"{OUT}/flash.uf2", *layout)),
        Case("image-info 1.5 MB app", ("image-info", str(inputs["app"])), compare="stdout"),
        Case("start-up (version)", ("version",), target_ratio=0.8, compare="nothing"),
    ]


def measure(cases: Sequence[Case], workdir: Path, runs: int) -> list[Result]:
    results = []
    for case in cases:
        print(f"  timing {case.name} ...", file=sys.stderr, flush=True)
        results.append(time_case(case, workdir, runs))
    return results


def _seconds(timing: Timing) -> str:
    return "error" if timing.error else f"{timing.best:.3f}"


def render(results: Sequence[Result], runs: int) -> str:
    header = ("case", "esptool s", "espforge s", "ratio", "target", "result", "note")
    rows = [
        (
            result.case.name,
            _seconds(result.esptool),
            _seconds(result.espforge),
            "-" if result.ratio is None else f"{result.ratio:.2f}",
            f"<= {result.case.target_ratio:.2f}",
            result.verdict,
            result.note,
        )
        for result in results
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    numeric = {1, 2, 3}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if column in numeric else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    passed = sum(result.verdict == "PASS" for result in results)
    failed = sum(result.verdict == "FAIL" for result in results)
    return "\n".join(
        [
            f"espforge vs esptool 5.6: best wall time of {runs} runs, each tool as a subprocess",
            "targets: espforge no slower than esptool in every case; start-up <= 0.8 of esptool's",
            "",
            line(header),
            line(["-" * width for width in widths]),
            *(line(row) for row in rows),
            "",
            f"{passed} of {len(results)} cases met their target; {failed} did not",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per tool and case (best kept)")
    parser.add_argument("--only", help="time only the cases whose name contains this text")
    parser.add_argument("--check", action="store_true", help="exit 1 when a case fails")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="espforge-bench-") as temp:
        workdir = Path(temp)
        cases = all_cases(prepare_inputs(workdir))
        if arguments.only:
            cases = [case for case in cases if arguments.only in case.name]
        results = measure(cases, workdir, arguments.runs)
    print(render(results, arguments.runs))
    failed = arguments.check and any(result.verdict == "FAIL" for result in results)
    return max(int(failed), _run_secure_benchmark(arguments))


def _run_secure_benchmark(arguments: argparse.Namespace) -> int:
    """The espsecure comparison (benchmarks/secure_bench.py) in the same run, same filters."""
    import secure_bench

    if not secure_bench.all_cases(arguments.only):
        return 0
    print()
    options = ["--runs", str(arguments.runs)]
    options += ["--only", arguments.only] if arguments.only else []
    options += ["--check"] if arguments.check else []
    return secure_bench.main(options)


if __name__ == "__main__":
    sys.exit(main())
