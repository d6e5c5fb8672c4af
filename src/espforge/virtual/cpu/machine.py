"""A RISC-V chip's CPU running uploaded code under unicorn (stub.md §6).

The SRAM the ROM loader wrote (MEM_BEGIN/MEM_DATA) is copied into one buffer mapped at both of
its bus addresses, so the instruction/data aliasing is real. The ROM range is filled with
`c.jr ra`: a call into the ROM returns at once, after a code hook ran the Python handler for
that address (rom_calls). Peripherals are callbacks (peripherals). The code runs in slices;
between slices the UART's receive interrupt calls the handler the code attached, as the ROM's
trap code calls it: a plain C call.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass

from unicorn import UC_ARCH_RISCV, UC_HOOK_CODE, UC_MODE_RISCV32, UC_PROT_ALL, Uc, UcError
from unicorn.riscv_const import UC_RISCV_REG_PC, UC_RISCV_REG_X1

from espforge.chips.cpu_map import CpuMemoryMap
from espforge.virtual.cpu.peripherals import CLKDIV, Spi1, Uart0
from espforge.virtual.cpu.rom_calls import RomCalls
from espforge.virtual.memory import AddressSpace
from espforge.virtual.spi_flash import SpiFlashDevice

C_JR_RA = b"\x82\x80"  # RVC `c.jr ra`: what every ROM address holds here
SLICE = 20_000  # instructions between interrupt checks
QUIET_SLICES = 10  # slices without any I/O after which the code is taken to be waiting
RUN_LIMIT = 200_000_000  # instructions in one run with I/O still going: a runaway
HANDLER_LIMIT = 1_000_000  # instructions an interrupt handler may take
UART_INTERRUPT = 5  # the CPU interrupt both stub sets attach UART0 to (stub.md §3.2)
PAGE = 0x1000
REG_SP, REG_A0 = UC_RISCV_REG_X1 + 1, UC_RISCV_REG_X1 + 9  # x2, x10
ROM_SCRATCH_OFFSET = 0x900  # from the ROM stack top: inside ROM .bss/.data (stub.md §4.1)


@dataclass(frozen=True)
class CpuPorts:
    """What the machine drives on the virtual chip."""

    device: SpiFlashDevice
    registers: AddressSpace  # every peripheral word the CPU model does not own
    transmit: Callable[[bytes], None]
    on_divider: Callable[[int], None]  # the code set UART0's divider (1/16 units)
    crystal_hz: int
    chip_id: int
    eco_version: int


class Machine:
    """One RISC-V CPU with the chip's memory; `stopped` says why it no longer runs."""

    def __init__(self, layout: CpuMemoryMap, ram: AddressSpace, ports: CpuPorts) -> None:
        self.layout = layout
        self.ports = ports
        self.stopped: str | None = None
        self.instructions = 0  # executed, counted by slices (an upper bound per slice)
        self._activity = False
        self._names = layout.function_names()
        self._sentinel = layout.rom[1] - 0x10  # a filler address no function lives at
        self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
        self._map_memory(ram)
        self.uart = Uart0(self._transmit, ports.registers.read_word(layout.uart0 + CLKDIV))
        self.spi = Spi1(ports.device, ports.registers, layout.spi1)
        self.rom = RomCalls(
            self.uc, self.uart, self.spi, ports.crystal_hz, ports.on_divider,
            layout.rom_stack_top + ROM_SCRATCH_OFFSET, layout.rom_flash_pointer, ports.chip_id,
        )  # fmt: skip
        self._handlers = {
            layout.rom_functions[name]: handler
            for name, handler in self.rom.handlers().items()
            if name in layout.rom_functions
        }
        self.uc.hook_add(UC_HOOK_CODE, self._rom_call, begin=layout.rom[0], end=layout.rom[1] - 1)

    def _map_memory(self, ram: AddressSpace) -> None:
        layout = self.layout
        rom_start, rom_end = layout.rom
        self.uc.mem_map(rom_start, rom_end - rom_start, UC_PROT_ALL)
        self.uc.mem_write(rom_start, C_JR_RA * ((rom_end - rom_start) // 2))
        self.uc.mem_write(layout.eco_version_word, self.ports.eco_version.to_bytes(4, "little"))
        start, end = layout.sram_data
        self._sram = ctypes.create_string_buffer(end - start)
        pointer = ctypes.addressof(self._sram)
        self.uc.mem_map_ptr(start, end - start, UC_PROT_ALL, pointer)
        self.uc.mem_map_ptr(layout.sram_instruction_base, end - start, UC_PROT_ALL, pointer)
        # What MEM_DATA wrote, at either bus address, into the one SRAM.
        for base in (start, layout.sram_instruction_base):
            for page in range(0, end - start, PAGE):
                data = ram.read_bytes(base + page, PAGE)
                if any(data):
                    self.uc.mem_write(start + page, data)
        low, high = layout.peripherals
        self.uc.mmio_map(low, high - low, self._mmio_read, None, self._mmio_write, None)

    # --- running ---

    def start(self, entry: int) -> None:
        """Jump to `entry` on the ROM's stack, as the ROM loader does after MEM_END."""
        self.uc.reg_write(REG_SP, (self.layout.rom_stack_top - 0x400) & ~0xF)
        self.uc.reg_write(UC_RISCV_REG_X1, self._sentinel)  # ra: a return from the entry
        self.uc.reg_write(UC_RISCV_REG_PC, entry)
        self.run()

    def receive(self, data: bytes) -> None:
        """Bytes from the host reach the receive FIFO; the code then runs until it waits."""
        if self.stopped is None:
            self.uart.receive(data)
            self.run()

    def run(self) -> None:
        quiet = executed = 0
        while self.stopped is None and quiet < QUIET_SLICES:
            self._activity = self._deliver_interrupt()
            pc = self.uc.reg_read(UC_RISCV_REG_PC)
            self._slice(pc, SLICE)
            executed += SLICE
            if self.uc.reg_read(UC_RISCV_REG_PC) == self._sentinel and self.stopped is None:
                self.stopped = "the code returned from its entry function"
            quiet = 0 if self._activity else quiet + 1
            if executed > RUN_LIMIT:
                self.stopped = f"no wait for input after {executed} instructions (runaway)"
        self.instructions += executed

    def _slice(self, pc: int, count: int) -> None:
        try:
            self.uc.emu_start(pc, self._sentinel, count=count)
        except UcError as error:
            if self.stopped is None:
                at = self.uc.reg_read(UC_RISCV_REG_PC)
                self.stopped = f"crashed at 0x{at:08x}: {error}"

    def _deliver_interrupt(self) -> bool:
        """Run the attached UART handler when its interrupt is raised, enabled and unmasked."""
        self.uart.raise_rx_interrupts()
        attached = self.rom.interrupts.handlers.get(UART_INTERRUPT)
        unmasked = self.rom.interrupts.unmasked & 1 << UART_INTERRUPT
        if attached is None or not unmasked or not self.uart.pending_interrupt():
            return False
        saved = [self.uc.reg_read(UC_RISCV_REG_X1 + n) for n in range(31)]
        pc = self.uc.reg_read(UC_RISCV_REG_PC)
        function, argument = attached
        self.uc.reg_write(REG_SP, (saved[1] - 0x100) & ~0xF)  # below the interrupted frame
        self.uc.reg_write(REG_A0, argument)
        self.uc.reg_write(UC_RISCV_REG_X1, self._sentinel)
        self._slice(function, HANDLER_LIMIT)
        if self.stopped is None and self.uc.reg_read(UC_RISCV_REG_PC) != self._sentinel:
            self.stopped = f"the interrupt handler at 0x{function:08x} did not return"
        for n, value in enumerate(saved):
            self.uc.reg_write(UC_RISCV_REG_X1 + n, value)
        self.uc.reg_write(UC_RISCV_REG_PC, pc)
        return True

    # --- hooks ---

    def _rom_call(self, uc: Uc, address: int, _size: int, _data: object) -> None:
        if address == self._sentinel:
            return
        handler = self._handlers.get(address)
        if handler is None:
            name = self._names.get(address, "no function we know")
            self.stopped = f"call to ROM address 0x{address:08x} ({name}), which has no hook"
            uc.emu_stop()
            return
        self.rom.polled_empty = False
        arguments = [uc.reg_read(REG_A0 + n) for n in range(7)]
        result = handler(*arguments)
        if result is not None:
            uc.reg_write(REG_A0, result & 0xFFFFFFFF)
        # Polling an empty receive FIFO through the ROM is waiting, not work.
        self._activity = self._activity or not self.rom.polled_empty

    def _transmit(self, data: bytes) -> None:
        self._activity = True
        self.ports.transmit(data)

    def _mmio_read(self, _uc: Uc, offset: int, _size: int, _data: object) -> int:
        address = self.layout.peripherals[0] + offset
        if self.layout.uart0 <= address < self.layout.uart0 + 0x100:
            if address == self.layout.uart0:
                self._activity = True  # a FIFO pop
            return self.uart.read(address - self.layout.uart0)
        if self.layout.spi1 <= address < self.layout.spi1 + 0x100:
            return self.spi.read(address - self.layout.spi1)
        return self.ports.registers.read_word(address)

    def _mmio_write(self, _uc: Uc, offset: int, _size: int, value: int, _data: object) -> None:
        address = self.layout.peripherals[0] + offset
        self._activity = True
        if self.layout.uart0 <= address < self.layout.uart0 + 0x100:
            self.uart.write(address - self.layout.uart0, value)
        elif self.layout.spi1 <= address < self.layout.spi1 + 0x100:
            self.spi.write(address - self.layout.spi1, value)
        else:
            self.ports.registers.write_word(address, value)
