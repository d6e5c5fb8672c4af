"""`make demo`'s last step: the merged image flashed into a virtual ESP32-C3 and read back."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from espforge import demo


def test_demo_flashes_verifies_and_reads_back_the_app(tmp_path: Path):
    outdir = tmp_path / "demo-out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert demo.main([str(outdir)]) == 0
    text = printed.getvalue()
    step = text[text.index("5. Flash it into a virtual ESP32-C3") :]
    assert "write-flash 0x0" in step and "Hash of data verified." in step
    assert "Verification successful (digest matched)." in step
    assert "Read 288 bytes from 0x00010000" in step
    assert "  magic 0xe9, 5 segments, entry point 0x40380080" in step
    assert "  app descriptor: espforge-demo 1.0.0, built Jan  1 2025 12:00:00" in step
    merged = (outdir / "flash_image.bin").read_bytes()
    flash = (outdir / "virtual-flash.bin").read_bytes()
    assert len(flash) == 4 * 1024 * 1024
    assert flash[: len(merged)] == merged
    assert set(flash[len(merged) :]) == {0xFF}
