"""What a chip's ROM prints on its UART after a reset, as a virtual chip reproduces it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BootMessages:
    """What the ROM prints on its UART after a reset, as a virtual chip reproduces it.

    After a reset the ROM prints `header`, then `reset_cause` + `separator` + the boot mode
    (`download_mode` or `flash_mode`) and a line end. In download mode `download_tail` follows
    (esptool looks for `boot:0x..` and `waiting for download`); booting from flash, it prints
    `flash_preamble`, then `load_line` per loaded segment and `entry_line`, or `no_image` when
    the flash holds no image. Line formats take `address`, `length` and `entry`.
    """

    header: str
    reset_cause: str
    download_mode: str
    flash_mode: str
    flash_preamble: str
    no_image: str
    separator: str = ","
    download_tail: str = "waiting for download\r\n"
    load_line: str = "load:{address:#010x},len:{length:#x}\r\n"
    entry_line: str = "entry {entry:#010x}\r\n"

    def download_banner(self) -> str:
        return self._reset_lines(self.download_mode) + self.download_tail

    def flash_boot_banner(self, segments: list[tuple[int, int]] | None, entry: int) -> str:
        """Booting from flash: the (address, length) of each loaded segment, or None for none."""
        text = self._reset_lines(self.flash_mode) + self.flash_preamble
        if segments is None:
            return text + self.no_image
        for address, length in segments:
            text += self.load_line.format(address=address, length=length)
        return text + self.entry_line.format(entry=entry)

    def _reset_lines(self, boot_mode: str) -> str:
        return f"{self.header}{self.reset_cause}{self.separator}{boot_mode}\r\n"


def rom_boot_messages(
    rom_build: str, build_date: str, download_mode: str, flash_mode: str
) -> BootMessages:
    """Boot messages in the style of the ESP-ROM builds (ESP32-S2 and later)."""
    return BootMessages(
        header=f"ESP-ROM:{rom_build}\r\nBuild:{build_date}\r\n",
        reset_cause="rst:0x1 (POWERON)",
        download_mode=download_mode,
        flash_mode=flash_mode,
        flash_preamble="SPIWP:0xee\r\nmode:DIO, clock div:1\r\n",
        no_image="invalid header: 0xffffffff\r\n",
    )
