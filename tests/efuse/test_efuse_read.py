"""Reading eFuses: summary (text, JSON, value-only) and dump, identical to espefuse 5.6's for
the same eFuse memory, on every chip; espefuse (test-only oracle) runs in-process in --virt mode.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from espforge.cli.main import build_cli
from espforge.efuse import report, token
from espforge.efuse.state import EfuseState
from espforge.efuse.table import EfuseError, load_table
from espforge.virtual.efuse_controller import EfuseController

espefuse = pytest.importorskip("espefuse", reason="espefuse (test-only oracle) is absent")

RS_CHIPS = [
    "esp32c2",
    "esp32c3",
    "esp32c5",
    "esp32c6",
    "esp32c61",
    "esp32e22",
    "esp32h2",
    "esp32h21",
    "esp32h4",
    "esp32p4",
    "esp32s2",
    "esp32s3",
    "esp32s31",
]
REPRESENTATIVE = ("esp32c2", "esp32c3", "esp32h2", "esp32p4", "esp32s3")
# Every chip; those beyond the representative ones only in the slow run.
EVERY_CHIP = [
    chip if chip in REPRESENTATIVE else pytest.param(chip, marks=pytest.mark.slow)
    for chip in RS_CHIPS
]
MARK = '=== Run "{}" command ===\n'


def run_espefuse(chip: str, efuse_file: Path, *args: str) -> str:
    """espefuse's output after its banner, in --virt mode on `efuse_file`."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        espefuse.main(
            [
                "--chip",
                chip,
                "--virt",
                "--path-efuse-file",
                str(efuse_file),
                "--do-not-confirm",
                *args,
            ]
        )
    return buffer.getvalue()


def after_mark(output: str, command: str) -> str:
    return output.split(MARK.format(command), 1)[1]


def read_state(chip: str, efuse_file: Path) -> EfuseState:
    table = load_table(chip)
    return EfuseState.read(table, EfuseController(table, str(efuse_file)))


def burned_file(chip: str, folder: Path) -> Path:
    """An eFuse memory espefuse burned: BLOCK0 fields, a custom MAC, a key, protections."""
    path = folder / f"{chip}.bin"
    run_espefuse(chip, path, "burn-efuse", "WDT_DELAY_SEL", "1")
    run_espefuse(chip, path, "burn-custom-mac", "02:11:22:33:44:55")
    table = load_table(chip)
    protectable = next(n for n in ("WDT_DELAY_SEL", "SECURE_BOOT_EN") if table.field(n).wr_dis)
    run_espefuse(chip, path, "write-protect-efuse", protectable)
    key = folder / "key.bin"
    key.write_bytes(bytes(range(32)) if chip != "esp32c2" else bytes(range(16)))
    block = "BLOCK_KEY1" if chip != "esp32c2" else "BLOCK_KEY0"
    purpose = "USER" if chip != "esp32c2" else "XTS_AES_128_KEY_DERIVED_FROM_128_EFUSE_BITS"
    run_espefuse(chip, path, "burn-key", block, str(key), purpose, "--no-read-protect")
    return path


@pytest.mark.parametrize("chip", ["esp32", *EVERY_CHIP])
def test_summary_of_a_blank_chip_is_espefuses(chip: str, tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    expected = after_mark(run_espefuse(chip, path, "summary"), "summary")
    assert report.summary(read_state(chip, path), []) == expected


@pytest.mark.parametrize("chip", EVERY_CHIP)
def test_summary_and_json_after_burns_are_espefuses(chip: str, tmp_path: Path) -> None:
    path = burned_file(chip, tmp_path)
    state = read_state(chip, path)
    assert report.summary(state, []) == after_mark(run_espefuse(chip, path, "summary"), "summary")
    expected_json = after_mark(run_espefuse(chip, path, "summary", "--format", "json"), "summary")
    assert json.loads(report.summary(state, [], "json")) == json.loads(expected_json)


@pytest.mark.parametrize("chip", ["esp32c3", "esp32c2"])
def test_dump_filters_and_value_only_are_espefuses(chip: str, tmp_path: Path) -> None:
    path = burned_file(chip, tmp_path)
    state = read_state(chip, path)
    dump = after_mark(run_espefuse(chip, path, "dump"), "dump")
    assert "\n".join(report.dump_lines(state)) + "\n" == dump
    names = ["WDT_DELAY_SEL", "CUSTOM_MAC", "MAC"]
    filtered = after_mark(run_espefuse(chip, path, "summary", *names), "summary")
    assert report.summary(state, names) == filtered
    value = after_mark(
        run_espefuse(chip, path, "summary", "--format", "value_only", "CUSTOM_MAC"), "summary"
    )
    assert report.summary(state, ["CUSTOM_MAC"], "value_only") == value
    active = after_mark(run_espefuse(chip, path, "summary", "--active"), "summary")
    assert report.summary(state, [], active=True) == active


def test_dump_files_are_espefuses(tmp_path: Path) -> None:
    path = burned_file("esp32c3", tmp_path)
    joint = tmp_path / "joint.bin"
    run_espefuse("esp32c3", path, "dump", "--format", "joint", "--file-name", str(joint))
    assert b"".join(report.block_dump_bytes(read_state("esp32c3", path))) == joint.read_bytes()


def test_read_protected_key_block_shows_question_marks(tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    key = tmp_path / "key.bin"
    key.write_bytes(bytes(range(1, 33)))
    run_espefuse("esp32c3", path, "burn-key", "BLOCK_KEY0", str(key), "HMAC_UP")
    state = read_state("esp32c3", path)
    assert not state.readable(state.field("BLOCK_KEY0").rd_dis)
    assert report.summary(state, []) == after_mark(
        run_espefuse("esp32c3", path, "summary"), "summary"
    )
    assert "?? ?? ??" in report.summary(state, ["BLOCK_KEY0"])


def test_value_only_needs_exactly_one_field(tmp_path: Path) -> None:
    state = read_state("esp32c3", tmp_path / "efuse.bin")
    with pytest.raises(EfuseError, match="The 'value_only' format can be used exactly for one"):
        report.summary(state, [], "value_only")
    with pytest.raises(EfuseError, match="not an eFuse field"):
        report.summary(state, ["NO_SUCH_FIELD"])


def test_chip_revision_and_block_version_from_the_fields(tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    run_espefuse(
        "esp32c3",
        path,
        "burn-efuse",
        "WAFER_VERSION_MAJOR",
        "1",
        "WAFER_VERSION_MINOR_LO",
        "3",
        "WAFER_VERSION_MINOR_HI",
        "1",
        "BLK_VERSION_MAJOR",
        "1",
    )
    state = read_state("esp32c3", path)
    assert state.chip_revision() == 111
    assert state.block_version() == 100
    # From block version v1.0 on, the ESP32-C3 shows its calibration fields.
    assert any(f.category == "calibration" for f in state.fields)
    assert report.summary(state, []) == after_mark(
        run_espefuse("esp32c3", path, "summary"), "summary"
    )


@pytest.mark.parametrize("chip", ["esp32c3", pytest.param("esp32s3", marks=pytest.mark.slow)])
def test_token_dump_is_espefuses(chip: str, tmp_path: Path) -> None:
    path = burned_file(chip, tmp_path)
    expected = after_mark(run_espefuse(chip, path, "dump", "--format", "token"), "dump")
    assert token.build(read_state(chip, path)) + "\n" == expected
    # ... and the token reads back as the same eFuses, in both tools.
    text = expected.strip()
    result = CliRunner().invoke(build_cli(), ["efuse", "--token", text, "summary"])
    assert result.exit_code == 0, result.output
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        espefuse.main(["--token", text, "summary"])
    ours = result.output.split(MARK.format("summary"), 1)[1]
    assert ours.rstrip() == after_mark(buffer.getvalue(), "summary").rstrip()


@pytest.mark.parametrize("chip", ["esp32c3", "esp32s3", "esp32h2", "esp32p4"])
def test_adc_info_is_espefuses(chip: str, tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    # Block version v1.1: calibrated, on every chip.
    run_espefuse(chip, path, "burn-efuse", "BLK_VERSION_MAJOR", "1", "BLK_VERSION_MINOR", "1")
    expected = after_mark(run_espefuse(chip, path, "adc-info"), "adc-info")
    lines = report.adc_info_lines(read_state(chip, path))
    assert len(lines) > 5
    assert "\n".join(lines) == expected.rstrip("\n")


def test_esp32_two_point_adc_fields_are_espefuses(tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    # Both signs of each delta: ADC1 points negative, ADC2 points positive.
    word = 0x4A | (0x1C3 << 7) | (0x3F << 16) | (0x0FF << 23)
    block3 = tmp_path / "block3.bin"
    block3.write_bytes(bytes(12) + word.to_bytes(4, "little") + bytes(16))
    run_espefuse("esp32", path, "burn-block-data", "BLOCK3", str(block3))
    run_espefuse("esp32", path, "burn-efuse", "BLK3_PART_RESERVE", "1")
    state = read_state("esp32", path)
    expected = after_mark(run_espefuse("esp32", path, "summary"), "summary")
    assert "= 62 R/W" in expected and "= 4426 R/W" in expected
    assert report.summary(state, []) == expected
    expected_json = after_mark(
        run_espefuse("esp32", path, "summary", "--format", "json"), "summary"
    )
    assert json.loads(report.summary(state, [], "json")) == json.loads(expected_json)
    adc_info = after_mark(run_espefuse("esp32", path, "adc-info"), "adc-info")
    assert "\n".join(report.adc_info_lines(state)) == adc_info.rstrip("\n")
