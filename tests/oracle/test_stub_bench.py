"""Smoke test of benchmarks/flash_bench.py: its table, and one small cell timed for real."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "flash_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("espforge_flash_bench", RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_the_table_shows_ratios_limits_and_why_a_cell_is_missing(bench):
    cold = bench.Cell("cold", 921600, "stub", 92160, esptool=2.0, espforge=1.5)
    warm = bench.Cell("warm4k", 921600, "stub", 92160, esptool=2.0, espforge=0.15)
    erase = bench.Cell("erase", 921600, "ROM", 0, esptool="ROM cannot", espforge=9.0)
    table = bench.render([cold, warm, erase])
    assert "cold      921600 stub       2.00       1.50   0.75     1.00           1.50" in table
    assert "n/a: esptool erase ROM at 921600: ROM cannot" in table
    assert "espforge warm 4 KB change / cold write, stub at 921600: 0.10" in table


def test_the_image_has_its_parts_where_they_belong(bench):
    image = bench.flash_image(0x100000, 0x40000)
    assert len(image) == 0x100000
    assert image[0x8000:0x8002] == b"\xaa\x50"
    assert image[0x50000:] == b"\xff" * (0x100000 - 0x50000)


@pytest.mark.slow
def test_one_cell_is_timed_for_both_tools(bench, tmp_path):
    stub_dir = str(Path(esptool.__file__).parent / "targets" / "stub_flasher" / "2")
    cell = bench.Bench(tmp_path, bench.flash_image(0x40000, 0x10000), stub_dir).time_cell(
        "warm4k", 921600, stub=True
    )
    assert isinstance(cell.esptool, float) and isinstance(cell.espforge, float), cell
