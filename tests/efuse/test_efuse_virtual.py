"""The virtual chip's eFuse controller: the stock espefuse 5.6 (test-only oracle) reads and
burns it over socket://, espforge does the same through its serial path, and the chip's MAC
comes from its eFuse memory.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from espforge.chips import get_chip
from espforge.cli.main import build_cli
from espforge.efuse import report
from espforge.efuse.state import EfuseState
from espforge.efuse.table import load_table
from espforge.virtual.chip import ChipOptions, VirtualChip
from espforge.virtual.efuse_controller import EfuseController
from espforge.virtual.identity import ChipIdentity
from espforge.virtual.transports import TcpServer

espefuse = pytest.importorskip("espefuse", reason="espefuse (test-only oracle) is absent")
esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")

MARK = '=== Run "summary" command ===\n'


def run_espefuse(port: str, chip: str, *args: str) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        espefuse.main(["--port", port, "--before", "no-reset", "--chip", chip, *args])
    return buffer.getvalue()


def file_summary(chip: str, path: Path, names: list[str]) -> str:
    table = load_table(chip)
    return report.summary(EfuseState.read(table, EfuseController(table, str(path))), names)


@pytest.mark.parametrize("chip", ["esp32c3", "esp32s3"])
def test_stock_espefuse_reads_and_burns_the_virtual_chip(chip: str, tmp_path: Path) -> None:
    efuse_file = tmp_path / "efuse.bin"
    virtual = VirtualChip.create(chip, options=ChipOptions(efuse_file=str(efuse_file)))
    try:
        with TcpServer(virtual) as server:
            summary = run_espefuse(server.port, chip, "summary").split(MARK, 1)[1]
            assert summary == file_summary(chip, efuse_file, [])
            output = run_espefuse(
                server.port,
                chip,
                "--do-not-confirm",
                "burn-efuse",
                "WDT_DELAY_SEL",
                "2",
                "SPI_BOOT_CRYPT_CNT",
                "1",
            )
            assert "Successful." in output
            names = ["WDT_DELAY_SEL", "SPI_BOOT_CRYPT_CNT"]
            after = run_espefuse(server.port, chip, "summary", *names).split(MARK, 1)[1]
            assert "= 160000 R/W (0b10)" in after and "= Enable R/W (0b001)" in after
            assert after == file_summary(chip, efuse_file, names)
    finally:
        virtual.close()


def test_espforge_burns_the_virtual_chip_over_its_serial_link(tmp_path: Path) -> None:
    efuse_file = tmp_path / "efuse.bin"
    virtual = VirtualChip.create("esp32c3", options=ChipOptions(efuse_file=str(efuse_file)))
    key = tmp_path / "key.bin"
    key.write_bytes(bytes(range(32)))
    try:
        with TcpServer(virtual) as server:
            link = ["efuse", "--port", server.port, "--before", "no-reset", "--chip", "esp32c3"]
            result = CliRunner().invoke(
                build_cli(),
                [
                    *link,
                    "burn-key",
                    "BLOCK_KEY1",
                    str(key),
                    "HMAC_UP",
                    "burn-custom-mac",
                    "02:00:00:00:00:07",
                ],
                input="BURN\n",
            )
            assert result.exit_code == 0, result.output
            assert "Successful." in result.output
            summary = run_espefuse(
                server.port, "esp32c3", "summary", "KEY_PURPOSE_1", "CUSTOM_MAC"
            ).split(MARK, 1)[1]
    finally:
        virtual.close()
    assert "= HMAC_UP R/- (0x8)" in summary and "02:00:00:00:00:07 (OK)" in summary
    assert summary == file_summary("esp32c3", efuse_file, ["KEY_PURPOSE_1", "CUSTOM_MAC"])


def esptool_on_efuse_file(efuse_file: Path, command: str) -> str:
    """What the stock esptool prints for `command` on a virtual ESP32-C3 with these eFuses."""
    virtual = VirtualChip.create("esp32c3", options=ChipOptions(efuse_file=str(efuse_file)))
    try:
        with TcpServer(virtual) as server:
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                esptool.main(
                    ["--port", server.port, "--before", "no-reset", "--chip", "esp32c3"]
                    + ["--no-stub", command]
                )
    finally:
        virtual.close()
    return buffer.getvalue()


def test_the_mac_comes_from_the_efuse_memory(tmp_path: Path) -> None:
    efuse_file = tmp_path / "efuse.bin"
    mac = bytes.fromhex("24ABCDEF0102")
    block1 = mac[::-1] + bytes(18)  # the MAC field holds the address's last byte first
    data = tmp_path / "block1.bin"
    data.write_bytes(block1)
    result = CliRunner().invoke(
        build_cli(),
        [
            "efuse",
            "--chip",
            "esp32c3",
            "--virt",
            "--path-efuse-file",
            str(efuse_file),
            "--do-not-confirm",
            "burn-block-data",
            "BLOCK1",
            str(data),
        ],
    )
    assert result.exit_code == 0, result.output
    output = esptool_on_efuse_file(efuse_file, "read-mac")
    assert re.search(r"^MAC: +24:ab:cd:ef:01:02$", output, re.MULTILINE)


def test_a_fresh_chip_keeps_its_identity_in_efuses(tmp_path: Path) -> None:
    efuse_file = tmp_path / "efuse.bin"
    identity = ChipIdentity(bytes.fromhex("246f28000001"), (0, 4), 40)
    VirtualChip.create(
        "esp32c3", options=ChipOptions(identity=identity, efuse_file=str(efuse_file))
    ).close()
    state = EfuseState.read(
        load_table("esp32c3"), EfuseController(load_table("esp32c3"), str(efuse_file))
    )
    assert state.chip_revision() == 4
    assert report.summary(state, ["MAC"], "value_only") == "24:6f:28:00:00:01 (OK)\n"


def test_the_esp8266_has_no_efuse_controller() -> None:
    virtual = VirtualChip.create("esp8266")
    assert virtual.efuse is None
    virtual.close()


def test_the_security_info_comes_from_the_efuse_memory(tmp_path: Path) -> None:
    efuse_file, key = tmp_path / "efuse.bin", tmp_path / "key.bin"
    key.write_bytes(bytes(range(32)))
    result = CliRunner().invoke(
        build_cli(),
        [
            "efuse",
            "--chip",
            "esp32c3",
            "--virt",
            "--path-efuse-file",
            str(efuse_file),
            "--do-not-confirm",
            "burn-efuse",
            "SPI_BOOT_CRYPT_CNT",
            "1",
            "SECURE_BOOT_EN",
            "1",
            "burn-key",
            "BLOCK_KEY1",
            str(key),
            "XTS_AES_128_KEY",
        ],
    )
    assert result.exit_code == 0, result.output
    output = esptool_on_efuse_file(efuse_file, "get-security-info")
    assert "Flags: 0x00000001" in output
    assert "Flash Encryption: Enabled" in output
    assert "Key Purposes: (0, 4, 0, 0, 0, 0, 0)" in output


ALL_CHIPS = [
    "esp32",
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


@pytest.mark.parametrize("chip", ALL_CHIPS)
def test_a_fresh_virtual_chip_summarises_as_espefuse_reads_it(chip: str, tmp_path: Path) -> None:
    """The eFuse memory a new virtual chip starts with (its MAC and revision), read by both."""
    efuse_file = tmp_path / "efuse.bin"
    VirtualChip.create(chip, options=ChipOptions(efuse_file=str(efuse_file))).close()
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        espefuse.main(["--chip", chip, "--virt", "--path-efuse-file", str(efuse_file), "summary"])
    expected = buffer.getvalue().split(MARK, 1)[1]
    assert file_summary(chip, efuse_file, []) == expected
    mac = ":".join(f"{b:02x}" for b in ChipIdentity.default_for(get_chip(chip)).mac)
    assert mac in expected
