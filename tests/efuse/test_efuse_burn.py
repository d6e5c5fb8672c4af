"""Burning eFuses: espforge's burns leave the same eFuse contents as espefuse 5.6's (test-only
oracle, in-process --virt mode), refusals write nothing, and the plan is confirmed first.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from conftest import fixture_path
from espforge.cli.main import build_cli
from espforge.efuse import coding, report
from espforge.efuse.operations import EfuseSession, SessionOptions
from espforge.efuse.state import EfuseState
from espforge.efuse.table import EfuseError, load_table
from espforge.virtual.efuse_controller import EfuseController

espefuse = pytest.importorskip("espefuse", reason="espefuse (test-only oracle) is absent")
esptool = pytest.importorskip("esptool")


def run_espefuse(chip: str, path: Path, *args: str) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        espefuse.main(
            ["--chip", chip, "--virt", "--path-efuse-file", str(path), "--do-not-confirm", *args]
        )
    return buffer.getvalue()


def run_espefuse_chained(chip: str, path: Path, *args: str) -> str:
    """Several espefuse commands in one run: in a subprocess, as such a run leaves a result
    callback on espefuse's click group."""
    command = ["--chip", chip, "--virt", "--path-efuse-file", str(path), "--do-not-confirm"]
    return subprocess.run(
        [sys.executable, "-m", "espefuse", *command, *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def run_espforge(chip: str, path: Path, *args: str, confirm: str | None = None):
    options = ["efuse", "--chip", chip, "--virt", "--path-efuse-file", str(path)]
    if confirm is None:
        options.append("--do-not-confirm")
    return CliRunner().invoke(build_cli(), [*options, *args], input=confirm)


def contents(chip: str, path: Path) -> list[str]:
    """The eFuse blocks as read (what burning changed), not the controller's scratch registers."""
    table = load_table(chip)
    return report.dump_lines(EfuseState.read(table, EfuseController(table, str(path))))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    key = tmp_path / "key256.bin"
    key.write_bytes(bytes(range(32)))
    key128 = tmp_path / "key128.bin"
    key128.write_bytes(bytes(range(100, 116)))
    data = tmp_path / "data.bin"
    data.write_bytes(b"espforge!")
    pem = tmp_path / "sbv2.pem"
    private = ec.generate_private_key(ec.SECP256R1())
    pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {"key": key, "key128": key128, "data": data, "pem": pem}


def scenarios(files: dict[str, Path]) -> dict[str, list[list[str]]]:
    """Command lines per chip, each run by both tools from a blank memory."""
    key, key128, data, pem = (str(files[k]) for k in ("key", "key128", "data", "pem"))
    common = [
        ["burn-efuse", "SPI_BOOT_CRYPT_CNT", "1"],
        ["burn-efuse", "SPI_BOOT_CRYPT_CNT"],  # a bit count: the next bit
        ["burn-custom-mac", "02:11:22:33:44:55"],
        ["write-protect-efuse", "SECURE_BOOT_EN"],
    ]
    return {
        "esp32c3": common
        + [
            ["burn-efuse", "WDT_DELAY_SEL", "2", "DIS_PAD_JTAG", "1"],
            ["burn-key", "BLOCK_KEY0", key, "XTS_AES_128_KEY"],
            ["burn-key", "BLOCK_KEY1", key, "HMAC_UP", "--no-write-protect"],
            ["burn-key", "BLOCK_KEY2", key, "USER", "--no-read-protect"],
            ["burn-key-digest", "BLOCK_KEY3", pem, "SECURE_BOOT_DIGEST0"],
            ["burn-block-data", "BLOCK_KEY4", data, "--offset", "4"],
            ["burn-bit", "BLOCK_KEY5", "0", "9", "255"],
            ["read-protect-efuse", "BLOCK_SYS_DATA2"],
        ],
        "esp32s3": common
        + [
            [
                "burn-key",
                "BLOCK_KEY0",
                key,
                "XTS_AES_256_KEY_1",
                "BLOCK_KEY1",
                key,
                "XTS_AES_256_KEY_2",
            ],
            ["burn-key-digest", "BLOCK_KEY2", pem, "SECURE_BOOT_DIGEST1"],
            ["burn-block-data", "BLOCK_SYS_DATA2", data, "--offset", "3"],
        ],
        "esp32c2": [
            ["burn-efuse", "SPI_BOOT_CRYPT_CNT", "1"],
            ["burn-key", "BLOCK_KEY0", key128, "XTS_AES_128_KEY_DERIVED_FROM_128_EFUSE_BITS"],
            ["burn-bit", "BLOCK2", "3"],
        ],
        "esp32p4": common[:2] + [["burn-key", "BLOCK_KEY3", key, "HMAC_DOWN_ALL"]],
    }


@pytest.mark.parametrize("chip", ["esp32c3", "esp32s3", "esp32c2", "esp32p4"])
def test_burns_leave_the_contents_espefuse_leaves(chip: str, tmp_path: Path, files) -> None:
    ours, theirs = tmp_path / "ours.bin", tmp_path / "theirs.bin"
    for command in scenarios(files)[chip]:
        result = run_espforge(chip, ours, *command)
        assert result.exit_code == 0, result.output
        assert "Successful." in run_espefuse(chip, theirs, *command)
        assert contents(chip, ours) == contents(chip, theirs), command


@pytest.mark.parametrize("coding_scheme", ["0", "1"])
def test_esp32_burns_under_both_coding_schemes(coding_scheme: str, tmp_path: Path) -> None:
    """ESP32: NONE and 3/4 coding (24-byte keys), CRC'd custom MAC, reversed keys, voltage."""
    key = tmp_path / "key.bin"
    key.write_bytes(bytes(range(32 if coding_scheme == "0" else 24)))
    ours, theirs = tmp_path / "ours.bin", tmp_path / "theirs.bin"
    commands = [
        ["burn-efuse", "CODING_SCHEME", coding_scheme] if coding_scheme != "0" else [],
        ["burn-efuse", "JTAG_DISABLE", "1", "FLASH_CRYPT_CNT", "1"],
        ["burn-custom-mac", "02:11:22:33:44:55"],
        ["burn-key", "flash_encryption", str(key)],
        ["burn-key", "BLOCK2", str(key), "--no-protect-key"],
        ["set-flash-voltage", "3.3V"],
        ["write-protect-efuse", "JTAG_DISABLE"],
    ]
    for command in filter(None, commands):
        result = run_espforge("esp32", ours, *command)
        assert result.exit_code == 0, result.output
        assert "Successful." in run_espefuse("esp32", theirs, *command)
        assert contents("esp32", ours) == contents("esp32", theirs), command
    summary = run_espforge("esp32", ours, "summary").output.split("command ===\n", 1)[1]
    assert summary == run_espefuse("esp32", theirs, "summary").split("command ===\n", 1)[1]
    assert (
        "(CRC 0xd6 OK)" in summary and "Flash voltage (VDD_SDIO) set to 3.3V by efuse." in summary
    )


@pytest.mark.parametrize(
    ("chip", "command"),
    [
        ("esp32s3", ["burn-key", "BLOCK_KEY2", "{key512}", "XTS_AES_256_KEY"]),
        ("esp32p4", ["burn-key", "BLOCK_KEY0", "ecdsa256", "ECDSA_KEY"]),
        ("esp32c5", ["burn-key", "BLOCK_KEY1", "ecdsa384", "ECDSA_KEY_P384"]),
        ("esp32c5", ["burn-key", "BLOCK_KEY3", "ecdsa192", "ECDSA_KEY_P192"]),
        ("esp32h2", ["burn-key", "BLOCK_KEY1", "ecdsa256", "ECDSA_KEY"]),  # + hardware K
    ],
)
def test_split_and_ecdsa_keys_match_espefuse(chip: str, command: list[str], tmp_path) -> None:
    key512 = tmp_path / "key512.bin"
    key512.write_bytes(bytes(range(64)))
    names = {"{key512}": str(key512)}
    for bits in ("192", "256", "384"):
        pem = f"ecdsa{bits}_secure_boot_signing_key.pem"
        names[f"ecdsa{bits}"] = str(fixture_path("secure", pem))
    command = [names.get(word, word) for word in command]
    ours, theirs = tmp_path / "ours.bin", tmp_path / "theirs.bin"
    result = run_espforge(chip, ours, *command)
    assert result.exit_code == 0, result.output
    assert "Successful." in run_espefuse(chip, theirs, *command)
    assert contents(chip, ours) == contents(chip, theirs)


def test_the_last_key_block_refuses_purposes_the_hardware_gets_wrong(tmp_path, files) -> None:
    result = run_espforge(
        "esp32c3",
        tmp_path / "e.bin",
        "burn-key",
        "BLOCK_KEY5",
        str(files["key"]),
        "XTS_AES_128_KEY",
    )
    assert result.exit_code == 2 and "KEY_PURPOSE_5 cannot be XTS_AES_128_KEY" in result.output


def test_several_commands_burn_together(tmp_path: Path, files) -> None:
    ours, theirs = tmp_path / "ours.bin", tmp_path / "theirs.bin"
    command = [
        "burn-efuse",
        "WDT_DELAY_SEL",
        "1",
        "burn-custom-mac",
        "02:00:00:00:00:01",
        "burn-key",
        "BLOCK_KEY0",
        str(files["key"]),
        "HMAC_UP",
        "summary",
    ]
    result = run_espforge("esp32c3", ours, *command)
    assert result.exit_code == 0, result.output
    assert result.output.count("Type 'BURN'") == 0 and result.output.count("Successful.") == 1
    assert result.output.count('=== Run "summary" command ===') == 2  # again at the end
    assert result.output.count("Batch mode is enabled") == 3  # burned together at the end
    run_espefuse_chained("esp32c3", theirs, *command)
    assert contents("esp32c3", ours) == contents("esp32c3", theirs)


def test_espefuse_burns_read_the_same_in_espforge(tmp_path: Path, files) -> None:
    path = tmp_path / "efuse.bin"
    run_espefuse("esp32c3", path, "burn-key", "BLOCK_KEY2", str(files["key"]), "HMAC_UP")
    result = run_espforge("esp32c3", path, "summary", "KEY_PURPOSE_2", "BLOCK_KEY2")
    assert "= HMAC_UP R/- (0x8)" in result.output  # the purpose is write-protected
    assert "= " + " ".join(["??"] * 32) + " -/-" in result.output  # the key is hidden


# --- confirmation and refusals: nothing is written ---


def test_burning_waits_for_burn_typed(tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    run_espforge("esp32c3", path, "summary")
    blank = path.read_bytes()
    result = run_espforge("esp32c3", path, "burn-efuse", "DIS_PAD_JTAG", confirm="yes\n")
    assert "Type 'BURN' (all capitals) to continue." in result.output
    assert "Aborting." in result.output and path.read_bytes() == blank
    result = run_espforge("esp32c3", path, "burn-efuse", "DIS_PAD_JTAG", confirm="BURN\n")
    assert result.exit_code == 0 and path.read_bytes() != blank


def espefuse_fatal(chip: str, path: Path, *args: str) -> str:
    """The fatal-error line espefuse ends with, tabs expanded as its console shows them."""
    with pytest.raises(esptool.FatalError) as error:
        run_espefuse(chip, path, *args)
    return f"A fatal error occurred: {error.value}".expandtabs()


# Refusals in espefuse's words (espefuse=True: its own run must end with the same fatal line);
# the others are espforge's, where espefuse stops in its argument parser instead.
REFUSALS = [
    ([], ["burn-efuse", "WDT_DELAY_SEL", "4"], "4 is too large an unsigned integer", True),
    ([], ["burn-efuse", "DIS_PAD_JTAG", "2"], "(will always burn 0->1), given value=2", True),
    (
        [["burn-efuse", "WDT_DELAY_SEL", "2"]],
        ["burn-efuse", "WDT_DELAY_SEL", "1"],
        "New value contains some bits that cannot be cleared (value will be 0b11)",
        True,
    ),
    (
        [["write-protect-efuse", "WDT_DELAY_SEL"]],
        ["burn-efuse", "WDT_DELAY_SEL", "1"],
        "WDT_DELAY_SEL is write-protected. Burn is not possible.",
        True,
    ),
    (
        [["burn-block-data", "BLOCK_KEY0", "{data}", "--offset", "1"]],
        ["burn-key", "BLOCK_KEY0", "{key}", "USER"],
        "(use '--force-write-always' option to ignore it)",
        True,
    ),
    (
        [["burn-block-data", "BLOCK_USR_DATA", "{data}", "--offset", "1"]],
        ["burn-bit", "BLOCK3", "200"],
        "Burn into BLOCK_USR_DATA is forbidden (RS coding scheme does not allow this).",
        True,
    ),
    ([], ["burn-key", "BLOCK_KEY0", "{data}", "HMAC_UP"], "Incorrect key file size 9.", True),
    ([], ["burn-efuse", "USER_DATA", "0x0102"], "(given len of the new value= 16 bits)", True),
    ([], ["burn-block-data", "BLOCK3", "{data}"], "Data does not fit: the block3 size", True),
    ([], ["burn-block-data", "BLOCK3", "{data}", "--offset", "40"], "Invalid offset", True),
    ([], ["read-protect-efuse", "BLOCK_KEY1"], "BLOCK_KEY1 must be readable", True),
    ([], ["burn-efuse", "MAC", "02:11:22:33:44:55"], "Burning MAC is not supported.", True),
    ([], ["burn-custom-mac", "01:11:22:33:44:55"], "Custom MAC must be a unicast MAC!", True),
    ([], ["burn-custom-mac", "01:11:22:33:44"], "6-byte hexadecimal format", True),
    ([], ["burn-efuse", "WAFER_VERSION_MINOR", "1"], "Burning WAFER_VERSION_MINOR", True),
    ([], ["burn-key", "BLOCK_SYS_DATA2", "{key}", "HMAC_UP"], "not a key block", False),
    ([], ["burn-key", "BLOCK_KEY0", "{key}", "NO_PURPOSE"], "not a key purpose", False),
]


@pytest.mark.parametrize(("setup", "command", "message", "espefuse_says_it"), REFUSALS)
def test_refused_burns_write_nothing(
    tmp_path, files, setup, command, message, espefuse_says_it
) -> None:
    path, oracle_path = tmp_path / "efuse.bin", tmp_path / "espefuse.bin"
    names = {"{data}": str(files["data"]), "{key}": str(files["key"])}
    for line in setup:
        words = [names.get(w, w) for w in line]
        assert run_espforge("esp32c3", path, *words).exit_code == 0
        run_espefuse("esp32c3", oracle_path, *words)
    before = path.read_bytes() if path.exists() else None
    result = run_espforge("esp32c3", path, *[names.get(w, w) for w in command])
    assert result.exit_code == 2
    assert message in result.output
    assert (path.read_bytes() if path.exists() else None) in (before, bytes(512))
    if espefuse_says_it:
        fatal = espefuse_fatal("esp32c3", oracle_path, *[names.get(w, w) for w in command])
        assert fatal == result.output.rstrip("\n").split("\n")[-1]


# --- the burn sequence ---


class Recorder:
    """A controller that notes every write."""

    def __init__(self, controller: EfuseController) -> None:
        self.controller = controller
        self.writes: list[tuple[int, int]] = []

    def read_reg(self, address: int) -> int:
        return self.controller.read_reg(address)

    def write_reg(self, address: int, value: int) -> None:
        self.writes.append((address, value))
        self.controller.write_reg(address, value)


def test_protection_bits_are_burned_last_unless_no_postpone(tmp_path: Path) -> None:
    table = load_table("esp32c3")
    cmd, pgm = table.reg("EFUSE_CMD_REG"), table.reg("EFUSE_PGM_CMD")

    def programs(postpone: bool) -> int:
        recorder = Recorder(EfuseController(table))
        session = EfuseSession(table, recorder, SessionOptions(True, postpone), out=lambda _: None)
        session.burn_efuses([("WDT_DELAY_SEL", "1")])
        session.protect(["WDT_DELAY_SEL"], read=False)
        session.burn_all()
        assert session.state.raw(table.field("WDT_DELAY_SEL")) == 1
        assert not session.state.writeable(table.field("WDT_DELAY_SEL").wr_dis)
        return sum(1 for address, value in recorder.writes if address == cmd and value & pgm)

    assert programs(postpone=True) == 2
    assert programs(postpone=False) == 1


def test_a_burn_plan_names_what_it_locks(tmp_path: Path) -> None:
    result = run_espforge("esp32c3", tmp_path / "e.bin", "write-protect-efuse", "WDT_DELAY_SEL")
    assert "'WR_DIS'" in result.output and "locks: " in result.output
    assert "WDT_DELAY_SEL" in result.output.split("locks: ", 1)[1]


def test_coding_errors_are_detected_and_reported(tmp_path: Path) -> None:
    table = load_table("esp32c3")
    controller = EfuseController(table, str(tmp_path / "e.bin"))
    window = table.reg("EFUSE_PGM_DATA0_REG")
    controller.write_reg(window, 0x1234)  # data words whose check words disagree
    controller.write_reg(table.reg("EFUSE_CMD_REG"), table.reg("EFUSE_PGM_CMD") | 4 << 2)
    session = EfuseSession(table, controller, out=lambda _: None)
    assert session.check_error() == ["Error(s) in BLOCK4 [ERRORS:0 FAIL:True]."]
    assert "[error]" in session.summary(["BLOCK_KEY0"])
    result = run_espforge("esp32c3", tmp_path / "e.bin", "check-error")
    assert result.exit_code == 2
    assert "BLOCK4 : BLOCK_KEY0 [ERRORS:0 FAIL:1]" in result.output
    assert "Error(s) were detected in eFuses." in result.output


def test_check_error_recovery_burns_a_faulty_block_again(tmp_path: Path, files) -> None:
    path = tmp_path / "e.bin"
    run_espforge("esp32c3", path, "burn-block-data", "BLOCK_KEY1", str(files["key"]))
    table = load_table("esp32c3")
    fail_register, fail_bit = table.block_errors[5]["fail"]
    controller = EfuseController(table, str(path))
    controller.write_reg(fail_register, 1 << fail_bit)  # the decoder found an error
    controller.save()
    assert run_espforge("esp32c3", path, "check-error").exit_code == 2
    result = run_espforge("esp32c3", path, "check-error", "--recovery")
    assert result.exit_code == 0, result.output
    assert "Error(s) in BLOCK5 [ERRORS:0 FAIL:True]." in result.output
    assert result.output.rstrip().endswith("No errors detected.")
    assert contents("esp32c3", path)[5].endswith("1b1a1918 1f1e1d1c")


# --- coding schemes ---


@given(st.binary(max_size=32))
def test_reed_solomon_words_check_out(data: bytes) -> None:
    words = coding.rs_encode(data)
    assert len(words) == 11
    assert coding.rs_is_consistent(words)
    assert not coding.rs_is_consistent([words[0] ^ 1, *words[1:]])


@given(st.binary(min_size=24, max_size=24))
def test_three_quarters_coding_round_trips(data: bytes) -> None:
    words = coding.encode_34(data)
    assert len(words) == 8 and coding.is_consistent_34(words)
    assert coding.decode_34(words) == data


def test_reed_solomon_matches_espefuse_known_block() -> None:
    # espefuse's emulator accepts only windows whose check words reedsolo computes.
    words = coding.rs_encode(bytes(range(32)))
    assert words[:8] == [
        0x03020100,
        0x07060504,
        0x0B0A0908,
        0x0F0E0D0C,
        0x13121110,
        0x17161514,
        0x1B1A1918,
        0x1F1E1D1C,
    ]


def test_an_unknown_field_is_refused_before_anything_runs(tmp_path: Path) -> None:
    session = EfuseSession(load_table("esp32c3"), EfuseController(load_table("esp32c3")))
    with pytest.raises(EfuseError, match="'NOPE' is not an eFuse field"):
        session.burn_efuses([("NOPE", "1")])


def test_esp32_secure_boot_v2_digest_needs_v3_and_matches_espefuse(tmp_path: Path) -> None:
    key = fixture_path("secure", "rsa_secure_boot_signing_key.pem")
    digest = fixture_path("secure", "rsa_public_key_digest.bin").read_bytes()
    ours, theirs = tmp_path / "ours.bin", tmp_path / "theirs.bin"
    result = run_espforge("esp32", ours, "burn-key-digest", str(key))
    assert result.exit_code == 2 and "Detected: v0.0. Expected: >= v3.0" in result.output
    for command in (
        ["burn-efuse", "CHIP_VER_REV1", "1", "CHIP_VER_REV2", "1"],
        ["burn-key-digest", str(key)],
    ):
        assert run_espforge("esp32", ours, *command).exit_code == 0
        run_espefuse("esp32", theirs, *command)
    assert contents("esp32", ours) == contents("esp32", theirs)
    block2 = EfuseState.read(load_table("esp32"), EfuseController(load_table("esp32"), str(ours)))
    assert block2.blocks[2].bits.to_bytes(32, "little") == digest


def token_for_burning(output: str) -> str:
    return output.split("eFuse token for burning:\n", 1)[1].split("\n", 1)[0]


@pytest.mark.parametrize("chip", ["esp32c3", "esp32"])
def test_show_token_prints_espefuses_efsw_token(chip: str, tmp_path: Path, files) -> None:
    theirs, ours = tmp_path / "theirs.bin", tmp_path / "ours.bin"
    already = "WDT_DELAY_SEL" if chip == "esp32c3" else "CONSOLE_DEBUG_DISABLE"
    for path in (theirs, ours):  # something read already, which the EFSW token leaves out
        run_espefuse(chip, path, "burn-efuse", already, "1")
    key_block = "BLOCK_KEY1" if chip == "esp32c3" else "BLOCK2"
    key = [key_block, str(files["key"])] + (["USER"] if chip == "esp32c3" else [])
    commands = ["burn-key", *key, "burn-custom-mac", "02:11:22:33:44:55", "--show-token"]
    expected = token_for_burning(run_espefuse_chained(chip, theirs, *commands))
    assert expected.startswith(f"EFSW:{chip}:000:")
    result = run_espforge(chip, ours, *commands)
    assert result.exit_code == 0, result.output
    assert token_for_burning(result.output) == expected
    assert contents(chip, ours) == contents(chip, theirs)


def test_show_token_then_enter_burns_nothing(tmp_path: Path) -> None:
    path = tmp_path / "efuse.bin"
    result = run_espforge(
        "esp32c3", path, "burn-efuse", "WDT_DELAY_SEL", "1", "--show-token", confirm="\n"
    )
    assert token_for_burning(result.output).startswith("EFSW:esp32c3:000:")
    assert "Aborting." in result.output
    table = load_table("esp32c3")
    assert EfuseState.read(table, EfuseController(table, str(path))).blocks[0].bits == 0


def test_esp32c2_digest_takes_just_the_keyfile_as_in_espefuse(tmp_path: Path, files) -> None:
    ours, theirs = tmp_path / "ours.bin", tmp_path / "theirs.bin"
    command = ["burn-key-digest", str(files["pem"])]
    result = run_espforge("esp32c2", ours, *command)
    assert result.exit_code == 0, result.output
    assert "Successful." in run_espefuse("esp32c2", theirs, *command)
    assert contents("esp32c2", ours) == contents("esp32c2", theirs)
    state = EfuseState.read(
        load_table("esp32c2"), EfuseController(load_table("esp32c2"), str(ours))
    )
    assert state.raw(state.field("BLOCK_KEY0_HI_128")) != 0
    triple = ["burn-key-digest", "BLOCK_KEY0", str(files["pem"]), "SECURE_BOOT_DIGEST"]
    refused = run_espforge("esp32c2", tmp_path / "other.bin", *triple)
    assert refused.exit_code != 0 and "takes burn-key-digest KEYFILE" in refused.output
