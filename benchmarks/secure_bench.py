"""Time espforge's flash encryption against espsecure 5.6 on the same 4 MB image, in one run.

Every case encrypts or decrypts the same pseudo-random image with the same key and address in
both tools, keeps the best time of N runs (the tools alternate so drift in machine load hits
both), checks that both produced the same bytes and compares the ratio espforge/espsecure with
the target: espforge no slower.

    python benchmarks/secure_bench.py [--runs N] [--size BYTES] [--only TEXT] [--cli] [--check]

By default both libraries are called in this process, which times the cryptography alone.
--cli times the command lines instead (`python -m espforge secure ...` against
`python -m espsecure ...`), start-up and file handling included. It exits 0 whatever the results
(it is a report) unless --check is given.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import espsecure  # the reference: installed with esptool, the test-only extra

from espforge.secure.flash_encryption import decrypt_flash_data, encrypt_flash_data

IMAGE_SIZE = 4 << 20
ADDRESS = 0x10000
TARGET_RATIO = 1.0  # espforge's time may be at most this share of espsecure's


@dataclass(frozen=True)
class Scheme:
    label: str
    key_bytes: int
    aes_xts: bool
    flash_crypt_conf: int = 0xF


SCHEMES = (
    Scheme("ESP32 conf 0xF", 32, False),
    Scheme("AES-XTS 256", 32, True),
    Scheme("AES-XTS 512", 64, True),
)
DIRECTIONS = ("encrypt", "decrypt")


@dataclass(frozen=True)
class Case:
    scheme: Scheme
    direction: str

    @property
    def name(self) -> str:
        return f"secure {self.direction}-flash-data {self.scheme.label}"


@dataclass(frozen=True)
class Result:
    case: Case
    espsecure: float
    espforge: float
    same_output: bool

    @property
    def ratio(self) -> float:
        return self.espforge / self.espsecure

    @property
    def verdict(self) -> str:
        return "PASS" if self.same_output and self.ratio <= TARGET_RATIO else "FAIL"


# (case, key, image) -> (seconds, output bytes); only the tool's own work is timed.
Runner = Callable[[Case, bytes, bytes], tuple[float, bytes]]


def _timed(work: Callable[[], bytes]) -> tuple[float, bytes]:
    start = time.perf_counter()
    output = work()
    return time.perf_counter() - start, output


def _named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name  # espsecure refuses an output named like one of its inputs
    return handle


def espsecure_in_process(case: Case, key: bytes, image: bytes) -> tuple[float, bytes]:
    operation = getattr(espsecure, f"{case.direction}_flash_data")
    key_file, input_file = _named(key, "key.bin"), _named(image, "input.bin")
    output = _named(b"", "output.bin")

    def work() -> bytes:
        scheme = case.scheme
        operation(key_file, output, ADDRESS, scheme.flash_crypt_conf, scheme.aes_xts, input_file)
        return output.getvalue()

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return _timed(work)


def espforge_in_process(case: Case, key: bytes, image: bytes) -> tuple[float, bytes]:
    operation = encrypt_flash_data if case.direction == "encrypt" else decrypt_flash_data
    scheme = case.scheme
    return _timed(lambda: operation(key, image, ADDRESS, scheme.flash_crypt_conf, scheme.aes_xts))


def _command_line(prefix: Sequence[str]) -> Runner:
    """A runner calling a tool's encrypt-/decrypt-flash-data command on files in a temp folder."""

    def run(case: Case, key: bytes, image: bytes) -> tuple[float, bytes]:
        scheme = case.scheme
        with tempfile.TemporaryDirectory(prefix="espforge-secure-bench-") as temp:
            folder = Path(temp)
            (folder / "key.bin").write_bytes(key)
            (folder / "input.bin").write_bytes(image)
            options = (
                ["--aes-xts"]
                if scheme.aes_xts
                else ["--flash-crypt-conf", hex(scheme.flash_crypt_conf)]
            )
            command = [
                sys.executable,
                "-m",
                *prefix,
                f"{case.direction}-flash-data",
                "--keyfile",
                "key.bin",
                "--address",
                hex(ADDRESS),
                "--output",
                "output.bin",
                *options,
                "input.bin",
            ]

            def work() -> bytes:
                subprocess.run(command, cwd=folder, check=True, capture_output=True)
                return (folder / "output.bin").read_bytes()

            return _timed(work)

    return run


def all_cases(only: str | None = None) -> list[Case]:
    """Every scheme in both directions; with `only`, those whose name contains it."""
    cases = [Case(scheme, direction) for scheme in SCHEMES for direction in DIRECTIONS]
    return [case for case in cases if only is None or only in case.name]


def measure(
    cases: Sequence[Case], runs: int, size: int, reference: Runner, candidate: Runner
) -> list[Result]:
    """Best of `runs` alternating runs of each tool per case, on the same seeded inputs."""
    image = random.Random(1).randbytes(size)
    results = []
    for case in cases:
        print(f"  timing {case.name} ...", file=sys.stderr, flush=True)
        key = random.Random(case.scheme.key_bytes).randbytes(case.scheme.key_bytes)
        best_reference = best_candidate = float("inf")
        same = True
        for _ in range(runs):
            reference_time, expected = reference(case, key, image)
            candidate_time, produced = candidate(case, key, image)
            best_reference = min(best_reference, reference_time)
            best_candidate = min(best_candidate, candidate_time)
            same = same and produced == expected
        results.append(Result(case, best_reference, best_candidate, same))
    return results


def render(results: Sequence[Result], runs: int, size: int, mode: str) -> str:
    header = ("case", "espsecure s", "espforge s", "ratio", "target", "result", "output")
    rows = [
        (
            result.case.name,
            f"{result.espsecure:.3f}",
            f"{result.espforge:.3f}",
            f"{result.ratio:.2f}",
            f"<= {TARGET_RATIO:.2f}",
            result.verdict,
            "same" if result.same_output else "DIFFERS",
        )
        for result in results
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if column in (1, 2, 3) else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    passed = sum(result.verdict == "PASS" for result in results)
    return "\n".join(
        [
            f"espforge vs espsecure 5.6 flash encryption, {size / (1 << 20):g} MB image, "
            f"best of {runs} runs, {mode}",
            "",
            line(header),
            line(["-" * width for width in widths]),
            *(line(row) for row in rows),
            "",
            f"{passed} of {len(results)} cases met their target",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per tool and case (best kept)")
    parser.add_argument("--size", type=int, default=IMAGE_SIZE, help="image size in bytes")
    parser.add_argument("--only", help="time only the cases whose name contains this text")
    parser.add_argument("--cli", action="store_true", help="time the command lines instead")
    parser.add_argument("--check", action="store_true", help="exit 1 when a case fails")
    arguments = parser.parse_args(argv)
    cases = all_cases(arguments.only)
    if arguments.cli:
        runners = (_command_line(["espsecure"]), _command_line(["espforge", "secure"]))
        mode = "command lines as subprocesses"
    else:
        runners = (espsecure_in_process, espforge_in_process)
        mode = "library calls in one process"
    results = measure(cases, arguments.runs, arguments.size, *runners)
    print(render(results, arguments.runs, arguments.size, mode))
    if arguments.check and any(result.verdict == "FAIL" for result in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
