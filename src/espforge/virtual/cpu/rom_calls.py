"""The ROM functions a flasher stub calls, served in Python (stub.md §4.5, §6.2, §6.3).

Each handler takes the call's argument registers a0..a6 and returns the value for a0 (None:
a void function, a0 left as it was). The machine finds the handler by the address the code
jumped to, from the chip's ROM function table (chips/cpu_map).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from espforge.virtual.cpu.peripherals import Spi1, Uart0
from espforge.virtual.nor_flash import FlashRangeError
from espforge.virtual.spi_flash import FlashIdentity

Handler = Callable[..., int | None]

# miniz tinfl return codes and flags (stub-lib include/esp-stub-lib/miniz.h)
TINFL_FAILED, TINFL_DONE, TINFL_NEEDS_MORE_INPUT, TINFL_HAS_MORE_OUTPUT = -1, 0, 1, 2
TINFL_PARSE_ZLIB_HEADER = 1
SECTOR, BLOCK = 0x1000, 0x10000
ROM_BAUD = 115200


class Memory(Protocol):
    """The emulated CPU's view of memory (unicorn's mem_read/mem_write)."""

    def mem_read(self, address: int, size: int) -> bytearray: ...
    def mem_write(self, address: int, data: bytes) -> None: ...


@dataclass
class InterruptState:
    """What the code attached through ets_isr_attach and which CPU interrupts it unmasked."""

    handlers: dict[int, tuple[int, int]] = field(default_factory=dict)  # n -> (fn, arg)
    unmasked: int = 0


@dataclass
class _Inflate:
    """One tinfl_decompressor's state, kept in Python as the ROM keeps it in the struct."""

    stream: zlib._Decompress


class RomCalls:
    """The ROM's services, on the virtual chip's UART, SPI flash and clock."""

    def __init__(
        self,
        memory: Memory,
        uart: Uart0,
        spi: Spi1,
        crystal_hz: int,
        on_divider: Callable[[int], None],
        rom_scratch: int,
        rom_flash_pointer: int,
        chip_id: int,
    ) -> None:
        self.memory = memory
        self.uart = uart
        self.spi = spi
        self.flash = spi.device.flash
        self.crystal_hz = crystal_hz
        self.on_divider = on_divider
        self.chip_id = chip_id
        self.interrupts = InterruptState()
        self.delayed_seconds = 0.0  # ets_delay_us adds up here: the code's waiting time
        self.polled_empty = False  # the last call found no input: the code is waiting
        self._md5: dict[int, hashlib._Hash] = {}
        self._inflate: dict[int, _Inflate] = {}
        # The ROM's UartDevice and flash struct live in ROM .bss, which we pick inside the
        # ROM's own RAM area (stub.md §4.1) so no stub can have loaded anything there.
        self._uart_device = rom_scratch
        self._flash_struct = rom_scratch + 0x40
        memory.mem_write(self._uart_device, struct.pack("<I", ROM_BAUD) + bytes(28))
        memory.mem_write(rom_flash_pointer, struct.pack("<I", self._flash_struct))
        self._config_param(self._flash_id(), self.flash.size, BLOCK, SECTOR, 256, 0xFFFF)

    def handlers(self) -> dict[str, Handler]:
        nothing: Handler = lambda *_: None  # noqa: E731 - ROM calls with no effect here
        return {
            "ets_delay_us": self._delay_us,
            "uart_tx_one_char": self._tx_one_char,
            "uart_rx_one_char": self._rx_one_char,
            "uart_tx_flush": nothing,
            "uart_tx_wait_idle": nothing,
            "uart_div_modify": self._div_modify,
            "GetUartDevice": lambda *_: self._uart_device,
            "ets_set_user_start": nothing,
            "tinfl_decompress": self._tinfl,
            "esp_rom_spiflash_erase_chip": self._erase_chip,
            "esp_rom_spiflash_erase_block": lambda n, *_: self._erase(n * BLOCK, BLOCK),
            "esp_rom_spiflash_erase_sector": lambda n, *_: self._erase(n * SECTOR, SECTOR),
            "esp_rom_spiflash_write": self._flash_write,
            "esp_rom_spiflash_read": self._flash_read,
            "esp_rom_spiflash_config_param": self._config_param,
            "esp_rom_spiflash_unlock": lambda *_: 0,
            "esp_rom_spi_flash_update_id": self._update_id,
            "esp_rom_spiflash_read_statushigh": self._read_status_high,
            "esp_rom_spiflash_write_status": lambda *_: 0,
            "esp_rom_spiflash_attach": nothing,
            "SPI_write_enable": self._write_enable,
            "memset": self._memset,
            "memcpy": self._memcpy,
            "memmove": self._memcpy,  # one read, one write: overlaps come out right
            "ets_get_apb_freq": lambda *_: self.crystal_hz,  # the ROM runs APB from the crystal
            "ets_get_xtal_freq": lambda *_: self.crystal_hz,
            "ets_update_cpu_frequency": nothing,
            "gpio_pad_select_gpio": nothing,
            "esprv_intc_int_set_priority": nothing,
            "intr_matrix_set": nothing,  # the ROM already routes UART0 to CPU interrupt 5
            "ets_isr_attach": self._isr_attach,
            "ets_isr_mask": self._isr_mask,
            "ets_isr_unmask": self._isr_unmask,
            "MD5Init": self._md5_init,
            "MD5Update": self._md5_update,
            "MD5Final": self._md5_final,
            "ets_efuse_get_spiconfig": lambda *_: 0,  # no eFuse SPI pin configuration
            "GetSecurityInfoProc": self._security_info,
            "GetSecurityInfoProc_eco0": self._security_info,
        }

    # --- memory helpers ---

    def _word(self, address: int) -> int:
        return struct.unpack("<I", self.memory.mem_read(address, 4))[0]

    def _put_word(self, address: int, value: int) -> None:
        self.memory.mem_write(address, struct.pack("<I", value & 0xFFFFFFFF))

    # --- UART and time ---

    def _delay_us(self, us: int, *_: int) -> None:
        self.delayed_seconds += us / 1e6

    def _tx_one_char(self, char: int, *_: int) -> int:
        self.uart.transmit(bytes([char & 0xFF]))
        return 0

    def _rx_one_char(self, destination: int, *_: int) -> int:
        byte = self.uart.pop()
        self.polled_empty = byte is None
        if byte is None:
            return 1
        self.memory.mem_write(destination, bytes([byte]))
        return 0

    def _div_modify(self, _uart: int, divider16: int, *_: int) -> None:
        self.uart.clkdiv = (divider16 >> 4) | (divider16 & 0xF) << 20
        self.on_divider(divider16)

    # --- SPI flash on the NOR model ---

    def _flash_id(self) -> int:
        # The ROM keeps manufacturer<<16 | type<<8 | capacity (stub.md §3.1).
        identity = self.spi.device.identity
        capacity = FlashIdentity.capacity_code(self.flash.size)
        return identity.manufacturer << 16 | identity.memory_type << 8 | capacity

    def _config_param(self, flash_id: int, size: int, block: int, sector: int, page: int,
                      status_mask: int, *_: int) -> int:  # fmt: skip
        fields = (flash_id, size, block, sector, page, status_mask)
        self.memory.mem_write(self._flash_struct, struct.pack("<6I", *fields))
        return 0

    def _update_id(self, *_: int) -> None:
        self._put_word(self._flash_struct, self._flash_id())

    def _read_status_high(self, _chip: int, destination: int, *_: int) -> int:
        self._put_word(destination, 0)
        return 0

    def _write_enable(self, *_: int) -> int:
        self.spi.write_enabled = True
        return 0

    def _erase(self, offset: int, length: int) -> int:
        try:
            self.flash.erase(offset, length)
        except FlashRangeError:
            return 1
        return 0

    def _erase_chip(self, *_: int) -> int:
        self.flash.erase_all()
        return 0

    def _flash_write(self, offset: int, source: int, length: int, *_: int) -> int:
        try:
            self.flash.program(offset, bytes(self.memory.mem_read(source, length)))
        except FlashRangeError:
            return 1
        return 0

    def _flash_read(self, offset: int, destination: int, length: int, *_: int) -> int:
        try:
            self.memory.mem_write(destination, self.flash.read(offset, length))
        except FlashRangeError:
            return 1
        return 0

    # --- libc, interrupts ---

    def _memset(self, destination: int, value: int, length: int, *_: int) -> int:
        self.memory.mem_write(destination, bytes([value & 0xFF]) * length)
        return destination

    def _memcpy(self, destination: int, source: int, length: int, *_: int) -> int:
        self.memory.mem_write(destination, bytes(self.memory.mem_read(source, length)))
        return destination

    def _isr_attach(self, number: int, function: int, argument: int, *_: int) -> None:
        self.interrupts.handlers[number] = (function, argument)

    def _isr_mask(self, mask: int, *_: int) -> None:
        self.interrupts.unmasked &= ~mask

    def _isr_unmask(self, mask: int, *_: int) -> None:
        self.interrupts.unmasked |= mask

    # --- MD5, inflate, security ---

    def _md5_init(self, context: int, *_: int) -> None:
        self._md5[context] = hashlib.md5()

    def _md5_update(self, context: int, data: int, length: int, *_: int) -> None:
        self._md5.setdefault(context, hashlib.md5()).update(self.memory.mem_read(data, length))

    def _md5_final(self, digest: int, context: int, *_: int) -> None:
        self.memory.mem_write(digest, self._md5.pop(context, hashlib.md5()).digest())

    def _tinfl(self, state: int, source: int, in_size: int, _out_start: int, out_next: int,
               out_size: int, flags: int, *_: int) -> int:  # fmt: skip
        # A zeroed m_state (tinfl_init) starts a new stream; we mark the struct as started.
        inflate = self._inflate.get(state)
        if inflate is None or self._word(state) == 0:
            window = zlib.MAX_WBITS if flags & TINFL_PARSE_ZLIB_HEADER else -zlib.MAX_WBITS
            inflate = self._inflate[state] = _Inflate(zlib.decompressobj(window))
            self._put_word(state, 1)
        data = bytes(self.memory.mem_read(source, self._word(in_size)))
        room = self._word(out_size)
        # Like tinfl, stop taking input once the output space is full and say how much input
        # was used: the stubs call again while input remains or more output is due.
        try:
            out = inflate.stream.decompress(data, room) if room else b""
        except zlib.error:
            return TINFL_FAILED
        tail = inflate.stream.unconsumed_tail if room else data
        self._put_word(in_size, len(data) - len(tail))
        self.memory.mem_write(out_next, out)
        self._put_word(out_size, len(out))
        if inflate.stream.eof:
            return TINFL_DONE
        return TINFL_HAS_MORE_OUTPUT if len(out) == room else TINFL_NEEDS_MORE_INPUT

    def _security_info(self, _message: int, _error: int, buffer: int, *_: int) -> int:
        # flags, flash_crypt_cnt, 7 key purposes, chip id, ECO/API version: an open chip.
        self.memory.mem_write(buffer, struct.pack("<IB7sII", 0, 0, bytes(7), self.chip_id, 0))
        return 0
