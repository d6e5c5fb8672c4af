"""espforge efuse says espefuse 5.6's sentence for the same case, with its exit code: each case
run through both command lines (as subprocesses, stdin included) on virtual eFuses of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_espforge, run_stock_tool

pytestmark = pytest.mark.oracle

# An ESP-IDF custom table with what ESP-IDF's own example has: multi-part fields (rows with
# no name), a structured name, an alternative name in the comment.
CUSTOM_TABLE = """\
# field_name,   | efuse_block, | bit_start, | bit_count, | comment #
MODULE_VERSION,   EFUSE_BLK3,    56,          8,           Module version
DEVICE_ROLE,      EFUSE_BLK3,    64,          3,           Device role
SETTING_1,        EFUSE_BLK3,    67,          6,           [SETTING_1_ALT_NAME] Setting 1
ID_NUM,           EFUSE_BLK3,    140,         8,           [MY_ID] comment
,                 EFUSE_BLK3,    150,         16,          [MY_ID] comment
,                 EFUSE_BLK3,    170,         32,          comment
MY_DATA,          EFUSE_BLK3,    96,          32,          comment
MY_DATA.FIELD1,   EFUSE_BLK3,    96,          1,           comment \\
"""


def _both(tmp_path: Path, *args: str, stdin: str = "", chip: str = "esp32c3") -> tuple:
    """espefuse and espforge on the same command line and stdin, each on its own blank eFuse
    file."""
    common = ["--virt", "--chip", chip]
    theirs = run_stock_tool("espefuse", *common, "--path-efuse-file", tmp_path / "theirs.bin",
                            *args, stdin=stdin)  # fmt: skip
    ours = run_espforge("efuse", *common, "--path-efuse-file", str(tmp_path / "ours.bin"), *args,
                        stdin=stdin)  # fmt: skip
    return theirs, ours


def _both_say(tmp_path: Path, args: list[str], sentence: str, exit_code: int, stdin: str = ""):
    theirs, ours = _both(tmp_path, *args, stdin=stdin)
    assert theirs.returncode == exit_code, theirs.stdout + theirs.stderr
    assert sentence in " ".join((theirs.stdout + theirs.stderr).replace("│", " ").split())
    assert ours.returncode == exit_code, ours.stdout + ours.stderr
    assert sentence in ours.stdout + ours.stderr


def test_value_only_with_no_field(tmp_path):
    _both_say(tmp_path, ["summary", "--format", "value_only"],
              "The 'value_only' format can be used exactly for one eFuse.", 2)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["burn-block-data", "BLOCK_USR_DATA", "KEY", "BLOCK_KEY0"],
         "Expected multiple of 2 values, got 3"),
        (["burn-key", "BLOCK_KEY0", "KEY", "XTS_AES_128_KEY", "BLOCK_KEY1"],
         "Expected multiple of 3 values, got 4"),
        (["burn-efuse", "WDT_DELAY_SEL", "2", "SPI_BOOT_CRYPT_CNT"],
         "The list does not have a valid pair (name value)"),
        (["burn-efuse", "NOPE", "1"], "Invalid eFuse name 'NOPE'."),
    ],
)  # fmt: skip
def test_arguments_in_incomplete_groups(tmp_path, args, sentence):
    key = tmp_path / "key.bin"
    key.write_bytes(bytes(range(32)))
    _both_say(tmp_path, [str(key) if arg == "KEY" else arg for arg in args], sentence, 2)


def test_a_burn_with_no_confirmation_on_stdin_is_aborted_with_exit_1(tmp_path):
    _both_say(tmp_path, ["burn-efuse", "WDT_DELAY_SEL", "2"], "Aborted.", 1, stdin="")
    for name in ("theirs.bin", "ours.bin"):
        assert not any((tmp_path / name).read_bytes())


def test_a_burn_refused_at_the_prompt_ends_with_exit_0(tmp_path):
    _both_say(tmp_path, ["burn-efuse", "WDT_DELAY_SEL", "2"], "Aborting.", 0, stdin="no\n")


@pytest.mark.parametrize("command", ["summary", "check-error", "dump"])
@pytest.mark.parametrize("chip", ["esp32", "esp32c2", "esp32c3", "esp32s3"])
def test_debug_output_is_espefuses(tmp_path, chip, command):
    """The blocks as read, the error and status registers, and the command's output."""
    theirs, ours = _both(tmp_path, "-d", command, chip=chip)
    assert theirs.returncode == ours.returncode == 0
    assert " read_regs: " in theirs.stdout
    assert ours.stdout.splitlines()[1:] == theirs.stdout.splitlines()[1:]


def test_a_custom_table_summary_is_espefuses(tmp_path):
    table = tmp_path / "esp_efuse_custom_table.csv"
    table.write_text(CUSTOM_TABLE)
    theirs, ours = _both(tmp_path, "--extend-efuse-table", str(table), "summary")
    assert theirs.returncode == ours.returncode == 0, ours.stderr
    assert "ID_NUM_2 (BLOCK3)" in theirs.stdout and "MY_DATA_FIELD1 (BLOCK3)" in theirs.stdout
    assert ours.stdout.splitlines()[1:] == theirs.stdout.splitlines()[1:]
    theirs, ours = _both(tmp_path, "--extend-efuse-table", str(table), "summary", "MY_ID_1")
    assert theirs.returncode == ours.returncode == 0, ours.stderr
    assert ours.stdout.splitlines()[1:] == theirs.stdout.splitlines()[1:]
