"""`espforge efuse`: espefuse's command line (names, v4 spellings, chaining, files, options)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from espforge.cli.main import build_cli


def efuse(path: Path, *args: str, chip: str = "esp32c3", stdin: str | None = None):
    command = ["efuse", "--chip", chip, "--virt", "--path-efuse-file", str(path), *args]
    return CliRunner().invoke(build_cli(), command, input=stdin)


def test_help_lists_espefuses_commands() -> None:
    result = CliRunner().invoke(build_cli(), ["efuse", "--help"])
    assert result.exit_code == 0
    for name in (
        "summary",
        "dump",
        "burn-efuse",
        "burn-key",
        "burn-key-digest",
        "read-protect-efuse",
        "write-protect-efuse",
        "burn-block-data",
        "burn-bit",
        "burn-custom-mac",
        "get-custom-mac",
        "set-flash-voltage",
        "adc-info",
        "check-error",
    ):
        assert name in result.output
    assert "--path-efuse-file" in result.output and "--postpone / --no-postpone" in result.output


def test_v4_spellings_and_chained_commands(tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    result = efuse(
        path,
        "--do-not-confirm",
        "burn_efuse",
        "DIS_PAD_JTAG",
        "get_custom_mac",
        "summary",
        "--format",
        "value_only",
        "DIS_PAD_JTAG",
    )
    assert result.exit_code == 0, result.output
    runs = [line for line in result.output.splitlines() if line.startswith("=== Run")]
    assert runs == [
        '=== Run "burn-efuse" command ===',
        '=== Run "get-custom-mac" command ===',
        '=== Run "summary" command ===',
        '=== Run "get-custom-mac" command ===',  # read commands run again at the end
        '=== Run "summary" command ===',
    ]
    assert result.output.rstrip().endswith("True")
    assert "Custom MAC Address: 00:00:00:00:00:00 (OK)" in result.output


def test_the_chip_can_come_from_espforges_own_option(tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    result = CliRunner().invoke(
        build_cli(),
        [
            "--chip",
            "esp32s3",
            "efuse",
            "--virt",
            "--path-efuse-file",
            str(path),
            "summary",
            "--format",
            "value_only",
            "WDT_DELAY_SEL",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "40000" in result.output
    assert (
        "--virt needs --chip" in CliRunner().invoke(build_cli(), ["efuse", "--virt", "dump"]).output
    )


def test_summary_to_a_file_and_as_json(tmp_path: Path) -> None:
    path, out = tmp_path / "efuse.bin", tmp_path / "summary.json"
    result = efuse(path, "summary", "--format", "json", "--file", str(out))
    assert result.exit_code == 0, result.output
    assert f"Saving eFuse values to {out}" in result.output and "Done" in result.output
    data = json.loads(out.read_text())
    assert data["WDT_DELAY_SEL"]["value"] == "40000"
    assert data["MAC"]["efuse_type"] == "bytes:6"


def test_dump_to_files(tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    assert efuse(path, "--do-not-confirm", "burn-efuse", "DIS_PAD_JTAG").exit_code == 0
    result = efuse(path, "dump", "--format", "split", "--file-name", str(tmp_path / "blk.bin"))
    assert result.exit_code == 0, result.output
    block0 = (tmp_path / "blk0.bin").read_bytes()
    assert len(block0) == 24 and block0[6] == 0x08  # DIS_PAD_JTAG: word 1, bit 19
    assert (tmp_path / "blk10.bin").read_bytes() == bytes(32)
    joint = tmp_path / "all.bin"
    assert efuse(path, "dump", "--format", "joint", "--file-name", str(joint)).exit_code == 0
    assert joint.read_bytes()[:24] == block0 and len(joint.read_bytes()) == 24 * 2 + 32 * 9


def test_extend_efuse_table_adds_fields_to_burn_and_show(tmp_path: Path) -> None:
    path, table = tmp_path / "efuse.bin", tmp_path / "custom.csv"
    table.write_text("MODULE_VERSION, EFUSE_BLK3, 56, 8, Module version\n")
    result = efuse(
        path,
        "--extend-efuse-table",
        str(table),
        "--do-not-confirm",
        "burn-efuse",
        "MODULE_VERSION",
        "0x2a",
        "summary",
        "MODULE_VERSION",
    )
    assert result.exit_code == 0, result.output
    assert "User fuses:" in result.output
    assert "MODULE_VERSION (BLOCK3)" in result.output and "= 42 R/W (0x2a)" in result.output


def test_debug_dumps_the_blocks_first_and_adc_info(tmp_path: Path) -> None:
    result = efuse(tmp_path / "efuse.bin", "--debug", "adc-info")
    assert result.exit_code == 0, result.output
    assert "BLOCK_KEY0      (BLOCK4          ) [4 ] read_regs:" in result.output
    assert "Block version: 0" in result.output


def test_a_usage_mistake_is_reported(tmp_path: Path) -> None:
    result = efuse(tmp_path / "efuse.bin", "burn-key", "BLOCK_KEY0", "only-two")
    assert result.exit_code == 2
    assert "BLOCK KEYFILE KEYPURPOSE triples" in result.output
    result = efuse(tmp_path / "efuse.bin", "set-flash-voltage", "3.3V")
    assert result.exit_code == 2 and "has no flash-voltage eFuses" in result.output
