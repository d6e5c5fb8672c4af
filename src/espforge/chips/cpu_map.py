"""What a CPU emulator needs to know about a RISC-V chip: where its ROM, SRAM and peripherals
are, where the ROM keeps the words a flasher stub reads, and the addresses of the ROM
functions stubs call (the ESP-IDF ROM linker scripts, `components/esp_rom/<chip>/ld`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CpuMemoryMap:
    """One RISC-V chip as its CPU sees it. Ranges are [start, end)."""

    rom: tuple[int, int]  # ROM code
    sram_data: tuple[int, int]  # SRAM on the data bus
    sram_instruction_base: int  # the same SRAM on the instruction bus (C2/C3: an alias)
    peripherals: tuple[int, int]
    rom_stack_top: int  # the stack the ROM loader runs on when it jumps to a stub
    eco_version_word: int  # a ROM data word stubs read to pick ECO-dependent routines
    rom_flash_pointer: int  # `rom_spiflash_legacy_data`: a pointer to the ROM's flash struct
    uart0: int
    spi1: int
    rom_functions: dict[str, int] = field(default_factory=dict)

    def function_names(self) -> dict[int, str]:
        return {address: name for name, address in self.rom_functions.items()}
