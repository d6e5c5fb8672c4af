"""Smoke test of benchmarks/run.py: one tiny case, one run per tool, rendered as a table row."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("espforge_benchmarks", RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_version_case_is_timed_for_both_tools_and_reported(bench, tmp_path):
    case = bench.Case("start-up (version)", ("version",), target_ratio=0.8, compare="nothing")
    results = bench.measure([case], tmp_path, runs=1)
    result = results[0]
    assert result.esptool.error is None
    assert result.espforge.error is None, result.espforge.error
    assert 0 < result.esptool.best < 30 and 0 < result.espforge.best < 30
    assert result.verdict in {"PASS", "FAIL"}
    table = bench.render(results, runs=1)
    row = next(line for line in table.splitlines() if line.startswith("start-up (version)"))
    assert f"{result.ratio:.2f}" in row and "<= 0.80" in row and result.verdict in row


def test_output_mismatch_or_tool_error_fails_the_row(bench):
    case = bench.Case("x", ("noop",))
    fast_same = bench.Result(case, bench.Timing(1.0, outputs={"a": "1"}), bench.Timing(0.5))
    fast_same.espforge.outputs = {"a": "1"}
    assert fast_same.verdict == "PASS"
    differing = bench.Result(case, bench.Timing(1.0, outputs={"a": "1"}), bench.Timing(0.5))
    assert differing.verdict == "FAIL" and differing.note == "FILES DIFFER"
    slow = bench.Result(case, bench.Timing(1.0), bench.Timing(1.5))
    assert slow.verdict == "FAIL"
    broken = bench.Result(case, bench.Timing(1.0), bench.Timing(error="boom"))
    assert broken.verdict == "FAIL" and broken.note == "espforge fails: boom"
    reference_broken = bench.Result(case, bench.Timing(error="nope"), bench.Timing(0.1))
    assert reference_broken.verdict == "SKIP"


def test_partition_table_layout(bench):
    table = bench.partition_table([("factory", 0, 0, 0x10000, 0x100000)])
    assert len(table) == 0xC00
    assert table[:4] == b"\xaa\x50\x00\x00"
    assert table[12:19] == b"factory"
    assert table[32:34] == b"\xeb\xeb"
    assert table[64:] == b"\xff" * (0xC00 - 64)
