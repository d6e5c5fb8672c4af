"""Connection diagnoses from what the chip printed while it did not answer the sync."""

from __future__ import annotations

import pytest

from espforge.protocol.diagnose import diagnose_no_sync, reset_note

BOOT_ESP32 = (
    b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
)
DOWNLOAD_C3 = (
    b"ESP-ROM:esp32c3-api1-20210207\r\nrst:0x1 (POWERON),boot:0x5 (DOWNLOAD(USB/UART0/1))\r\n"
    b"waiting for download\r\n"
)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (b"", "no answer at all on /dev/ttyUSB0: check that it is the right port"),
        (DOWNLOAD_C3, "in download mode (its boot message says so) but does not answer"),
        (b"ets Jan  8 2013,rst cause:2, boot mode:(1,7)\r\n", "in download mode"),
        (BOOT_ESP32, "wrong boot mode (0x13): the chip booted its application"),
        (b"ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n", "wrong boot mode: the chip booted"),
        (
            b"Guru Meditation Error: Core  0 panic'ed (LoadProhibited)",
            "application on the chip crashed",
        ),
        (
            b"I (312) main: hello world\r\nI (322) main: tick 1\r\n",
            "(it printed 'I (322) main: tick 1')",
        ),
        (bytes(range(128, 228)), "only unreadable bytes came back (100 of them)"),
    ],
)
def test_each_case_is_told_apart(output: bytes, expected: str) -> None:
    message = diagnose_no_sync(output, "/dev/ttyUSB0")
    assert expected in message
    assert "\n" not in message


def test_a_long_last_line_is_shortened() -> None:
    message = diagnose_no_sync(b"x" * 200 + b"\r\n", "p")
    assert "x" * 57 + "..." in message and "x" * 61 not in message


def test_a_reset_in_the_middle_of_a_command_is_noted() -> None:
    assert "it reset" in reset_note(BOOT_ESP32)
    assert reset_note(b"just text") == ""
