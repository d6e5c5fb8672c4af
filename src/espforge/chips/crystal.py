"""How a host learns a chip's crystal frequency and how the crystal scales the ROM's baud rate."""

from __future__ import annotations

from dataclasses import dataclass

from espforge.chips.registers import RegisterField, RegisterReader

# The UART clock divider register holds the divider in its low 20 bits.
UART_CLKDIV_MASK = 0xFFFFF


@dataclass(frozen=True)
class RtcCalibration:
    """ESP32: the ROM times its UART from a calibrated 8 MHz clock, not from the crystal.

    ROM's idea of the crystal in Hz = cali * 15625 * ck8m / 40, where cali is `cali_field`
    and ck8m is `ck8m_field`. The host scales CHANGE_BAUDRATE's baud by that over the real
    crystal (40 MHz when the ROM's value is above 33 MHz, else 26 MHz).
    """

    cali_field: RegisterField
    ck8m_field: RegisterField

    def rom_crystal_hz(self, read_reg: RegisterReader) -> float:
        cali = self.cali_field.extract(read_reg(self.cali_field.address))
        ck8m = self.ck8m_field.extract(read_reg(self.ck8m_field.address))
        return cali * 15625 * ck8m / 40


@dataclass(frozen=True)
class CrystalFacts:
    """How the host learns the crystal frequency and how that affects CHANGE_BAUDRATE."""

    # The crystal every such chip has (MHz); None: estimate it from the UART divider:
    # baud * (clkdiv & UART_CLKDIV_MASK) / 1e6 / uart_clock_per_crystal, then normalised to
    # 48 (above 45), 40 (above 33) or 26.
    fixed_mhz: int | None
    # The UART clock as a multiple of the crystal (2 on ESP8266, whose APB runs at 2x).
    uart_clock_per_crystal: int = 1
    # ESP32's ROM baud timing (see RtcCalibration); None elsewhere.
    rom_calibration: RtcCalibration | None = None
    # The crystal the ROM times its UART by (ESP8266, ESP32-C2: 40), whatever is fitted: with
    # 26 MHz its boot messages come at 115200 * 26 / 40 = 74880, and esptool sends a new baud
    # as baud * assumed // 26. None: the actual crystal.
    rom_assumed_mhz: int | None = None
    # The crystal most boards carry (a virtual chip's default).
    usual_mhz: int = 40
    # ESP32-C5: a register field holding the crystal (MHz) the ROM assumes; the host scales
    # the baud by it over the detected crystal when they are 40 and 48 or 48 and 40.
    rom_assumed_field: RegisterField | None = None

    def estimate_mhz(self, baud: int, clkdiv_register: int) -> float:
        """The crystal implied by the UART divider at the link's current baud."""
        divider = clkdiv_register & UART_CLKDIV_MASK
        return baud * divider / 1e6 / self.uart_clock_per_crystal

    def normalised_mhz(self, baud: int, clkdiv_register: int) -> int:
        """The chip's crystal: the fixed one, else the estimate rounded to 48, 40 or 26 MHz."""
        if self.fixed_mhz is not None:
            return self.fixed_mhz
        estimate = self.estimate_mhz(baud, clkdiv_register)
        return 48 if estimate > 45 else 40 if estimate > 33 else 26
