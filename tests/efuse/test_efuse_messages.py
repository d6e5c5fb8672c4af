"""Burn commands print what espefuse 5.6 prints (test-only oracle, in-process, --virt mode).

The same command lines run one after another on a blank eFuse file for each tool; the outputs
must be equal line for line after this normalisation, and only this:
- the banner line ("espefuse v5.6.0" / "espforge v…") is dropped;
- espforge's own plan is dropped: the "Burning eFuses:" block it prints just before
  "Check all blocks for burn..." (changes espefuse does not list as such), and the
  "locks: …" lines it adds under a change;
- espefuse's fatal errors are rendered as its console shows them ("A fatal error occurred: …",
  tabs expanded); its "ERROR: " decoration on stderr is not part of the comparison.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from espforge.cli.main import build_cli

espefuse = pytest.importorskip("espefuse", reason="espefuse (test-only oracle) is absent")
esptool = pytest.importorskip("esptool")

PLAN_END = ["", "Check all blocks for burn..."]


def espefuse_output(chip: str, path: Path, args: list[str]) -> tuple[list[str], int]:
    buffer = io.StringIO()
    code = 0
    # espefuse hangs its batch-mode ending on its module-level click group and never takes it
    # off; clear it so that in-process runs stay independent, as separate processes are.
    espefuse.cli._result_callback = None
    with contextlib.redirect_stdout(buffer):
        try:
            espefuse.main(
                ["--chip", chip, "--virt", "--path-efuse-file", str(path), "--do-not-confirm"]
                + args
            )
        except esptool.FatalError as error:
            print(f"A fatal error occurred: {error}")
            code = 2
    return buffer.getvalue().expandtabs().splitlines()[1:], code


def espforge_output(chip: str, path: Path, args: list[str]) -> tuple[list[str], int]:
    options = ["efuse", "--chip", chip, "--virt", "--path-efuse-file", str(path)]
    result = CliRunner().invoke(build_cli(), [*options, "--do-not-confirm", *args])
    return without_plan(result.output.splitlines()[1:]), result.exit_code


def without_plan(lines: list[str]) -> list[str]:
    """Drop espforge's plan block (see the module docstring) and its "locks:" lines."""
    kept: list[str] = []
    index = 0
    while index < len(lines):
        if lines[index] == "Burning eFuses:":
            end = index + 1
            while end < len(lines) and lines[end].startswith("    "):
                end += 1
            if lines[end : end + 2] == PLAN_END:
                index = end
                continue
        if not lines[index].startswith("        locks: "):
            kept.append(lines[index])
        index += 1
    return kept


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "key.bin"
    key.write_bytes(bytes(range(32)))
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(1, 11)))
    pem = tmp_path / "sbv2.pem"
    pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {"{key}": str(key), "{data}": str(data), "{pem}": str(pem)}


SESSIONS = {
    "esp32c3": [
        ["burn-efuse", "DIS_USB_JTAG", "1", "SECURE_VERSION", "5"],
        ["burn-efuse", "SECURE_VERSION", "5"],  # already there: nothing to burn
        ["burn-efuse", "SECURE_VERSION", "2"],  # would clear bits
        ["burn-key", "BLOCK_KEY0", "{key}", "XTS_AES_128_KEY"],
        ["burn-key", "BLOCK_KEY1", "{key}", "HMAC_UP", "--no-write-protect"],
        ["read-protect-efuse", "BLOCK_KEY2"],  # a USER key block must stay readable
        ["burn-key-digest", "BLOCK_KEY3", "{pem}", "SECURE_BOOT_DIGEST0"],
        ["burn-custom-mac", "AA:CD:EF:01:02:03"],
        ["burn-block-data", "BLOCK_USR_DATA", "{data}", "--offset", "4"],  # RS: refused
        ["burn-bit", "BLOCK_SYS_DATA2", "0", "1", "2"],
        ["write-protect-efuse", "DIS_ICACHE"],
        ["write-protect-efuse", "DIS_ICACHE"],  # already protected
        ["burn-efuse", "WDT_DELAY_SEL", "1", "get-custom-mac", "burn-bit", "BLOCK_KEY5", "7"],
        ["burn-efuse", "SOFT_DIS_JTAG", "1", "summary", "SOFT_DIS_JTAG"],  # summary twice
    ],
    "esp32": [
        ["burn-key", "flash_encryption", "{key}", "secure_boot_v1", "{key}"],
        ["burn-key", "BLOCK3", "{key}", "--no-protect-key"],
        ["burn-efuse", "JTAG_DISABLE", "1"],
        ["set-flash-voltage", "3.3V"],
        ["set-flash-voltage", "1.8V"],  # XPD_SDIO_TIEH is burned: refused
        ["burn-block-data", "BLOCK3", "{data}", "--offset", "4"],  # NONE coding: bits added
        ["burn-custom-mac", "AA:CD:EF:01:02:03"],
        ["adc-info"],
        ["burn-key-digest", "{pem}"],  # Secure Boot v2 needs v3.0: refused
        ["--no-postpone", "burn-efuse", "UART_DOWNLOAD_DIS", "1", "WR_DIS", "1"],
    ],
    "esp32c6": [
        ["burn-key", "BLOCK_KEY0", "{key}", "XTS_AES_128_KEY", "BLOCK_KEY1", "{key}", "HMAC_UP"],
        ["burn-bit", "BLOCK_USR_DATA", "3", "5"],
        ["burn-custom-mac", "AA:CD:EF:01:02:03", "--force-write-always"],  # RS: refused
        ["write-protect-efuse", "BLOCK_USR_DATA"],
        ["--no-postpone", "burn-efuse", "DIS_DOWNLOAD_MODE", "1", "ENABLE_SECURITY_DOWNLOAD", "1"],
    ],
    "esp32h2": [
        ["burn-key", "BLOCK_KEY0", "{key}", "XTS_AES_128_KEY", "--no-read-protect"],
        ["burn-key", "BLOCK_KEY0", "{key}", "XTS_AES_128_KEY"],  # its purpose is locked now
    ],
    "esp32c2": [
        ["burn-key-digest", "{pem}", "--no-read-protect"],  # espefuse's form: just KEYFILE
        ["burn-key-digest", "{pem}"],  # BLOCK_KEY0's upper half holds a digest already
    ],
    "esp32s3": [
        ["burn-efuse", "DIS_USB_OTG", "1", "burn-key", "BLOCK_KEY2", "{key}", "HMAC_DOWN_ALL"],
        ["burn-custom-mac", "AA:CD:EF:01:02:03"],
        ["burn-block-data", "BLOCK_USR_DATA", "{data}"],  # 10 bytes: does not fit
    ],
}


@pytest.mark.parametrize("chip", sorted(SESSIONS))
def test_burn_output_matches_espefuse(chip: str, tmp_path: Path, inputs) -> None:
    for command in SESSIONS[chip]:
        args = [inputs.get(word, word) for word in command]
        theirs, their_code = espefuse_output(chip, tmp_path / "espefuse.bin", args)
        ours, our_code = espforge_output(chip, tmp_path / "espforge.bin", args)
        assert ours == theirs, command
        assert our_code == their_code, command
