"""Why a chip does not answer the bootloader's SYNC, judged from what it printed meanwhile."""

from __future__ import annotations

import re

_BOOT_LINE = re.compile(rb"boot:(0x[0-9a-fA-F]+)")
_WAITING = b"waiting for download"
_ESP8266_BOOT_MODE = re.compile(rb"boot mode:\((\d)")
_CRASH = re.compile(rb"Guru Meditation Error|Fatal exception \(\d+\)")
_PRINTABLE = frozenset(b"\t\r\n" + bytes(range(0x20, 0x7F)))

HOLD_BOOT = (
    "hold BOOT (IO0) low while pressing RESET (EN), or check the board's DTR/RTS auto-reset circuit"
)


def diagnose_no_sync(chip_output: bytes, port: str) -> str:
    """One line saying which case it is and what to do."""
    if not chip_output:
        return (
            f"no answer at all on {port}: check that it is the right port, that the chip is "
            "powered and wired TX to RX, and that it is in download mode "
            "(hold BOOT/IO0 low while resetting)"
        )
    in_download_mode = _WAITING in chip_output or _esp8266_boot_mode(chip_output) == 1
    if in_download_mode:
        return (
            "the chip is in download mode (its boot message says so) but does not answer: the "
            "line from this computer to the chip's RX pin seems broken, or another device "
            "drives it"
        )
    boot = _BOOT_LINE.search(chip_output)
    if boot or _esp8266_boot_mode(chip_output) is not None:
        mode = f" ({boot.group(1).decode()})" if boot else ""
        return (
            f"wrong boot mode{mode}: the chip booted its application instead of the download "
            f"mode; {HOLD_BOOT}"
        )
    crash = _CRASH.search(chip_output)
    if crash:
        return (
            f"the application on the chip crashed ('{crash.group(0).decode()}') and the chip "
            f"is not in download mode; {HOLD_BOOT}"
        )
    if _mostly_printable(chip_output):
        return (
            f"the chip is running an application (it printed '{_last_line(chip_output)}'), not "
            f"the ROM bootloader; {HOLD_BOOT}"
        )
    return (
        f"only unreadable bytes came back ({len(chip_output)} of them): a boot message at "
        "another baud rate (the ESP8266 prints at 74880) or line noise; the chip is not in "
        f"download mode or the wiring is poor; {HOLD_BOOT}"
    )


def reset_note(chip_output: bytes) -> str:
    """A note for a failed command when the chip printed a boot message meanwhile."""
    if _BOOT_LINE.search(chip_output) or b"rst:" in chip_output or b"ets " in chip_output:
        return " (the chip printed a boot message meanwhile: it reset; check its power supply)"
    return ""


def _esp8266_boot_mode(output: bytes) -> int | None:
    match = _ESP8266_BOOT_MODE.search(output)
    return int(match.group(1)) if match else None


def _mostly_printable(output: bytes) -> bool:
    printable = sum(byte in _PRINTABLE for byte in output)
    return printable >= 0.8 * len(output)


def _last_line(output: bytes, limit: int = 60) -> str:
    lines = [line.strip() for line in output.decode("ascii", "replace").splitlines()]
    text = next((line for line in reversed(lines) if line), "")
    return text if len(text) <= limit else text[: limit - 3] + "..."
