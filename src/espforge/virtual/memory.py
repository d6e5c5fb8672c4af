"""The virtual chip's address space: sparse memory words plus peripherals that react to writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from espforge.chips.base import ChipSpec

PAGE_SIZE = 0x1000
WORD_MASK = 0xFFFFFFFF

# A peripheral's hook: called after a word was written, with the address and the new value.
WriteHook = Callable[[int, int], None]


def ram_ranges(chip: ChipSpec) -> list[tuple[int, int]]:
    """[start, end) of the chip's RAM: the memory map's *RAM regions, RTC_DATA, and any extra
    ranges the ROM loads code into."""
    ranges = [
        (region.start, region.end)
        for region in chip.memory_map
        if region.name.endswith("RAM") or region.name == "RTC_DATA"
    ]
    return ranges + list(chip.extra_ram_load_ranges)


class AddressSpace:
    """Byte-addressed memory that reads 0 where nothing was written.

    READ_REG/WRITE_REG see it as 32-bit little-endian words; MEM_DATA writes bytes into it.
    Peripherals register write hooks on the addresses they watch.
    """

    def __init__(self) -> None:
        self._pages: dict[int, bytearray] = {}
        self._hooks: dict[int, WriteHook] = {}

    def _page(self, address: int) -> bytearray:
        base = address - address % PAGE_SIZE
        page = self._pages.get(base)
        if page is None:
            page = self._pages[base] = bytearray(PAGE_SIZE)
        return page

    def keep_contents(self, previous: AddressSpace, ranges: Iterable[tuple[int, int]]) -> None:
        """Take over `previous`'s pages that lie in `ranges`: SRAM holds its contents through
        a reset (the chip stays powered), while registers come back with their reset values."""
        ranges = list(ranges)
        for base, page in previous._pages.items():
            if any(start < base + PAGE_SIZE and base < end for start, end in ranges):
                self._pages[base] = bytearray(page)

    def read_bytes(self, address: int, length: int) -> bytes:
        out = bytearray()
        while length > 0:
            offset = address % PAGE_SIZE
            take = min(length, PAGE_SIZE - offset)
            page = self._pages.get(address - offset)
            out += page[offset : offset + take] if page is not None else bytes(take)
            address, length = address + take, length - take
        return bytes(out)

    def write_bytes(self, address: int, data: bytes) -> None:
        position = 0
        while position < len(data):
            offset = (address + position) % PAGE_SIZE
            take = min(len(data) - position, PAGE_SIZE - offset)
            self._page(address + position)[offset : offset + take] = data[
                position : position + take
            ]
            position += take

    def read_word(self, address: int) -> int:
        return int.from_bytes(self.read_bytes(address & ~3, 4), "little")

    def write_word(self, address: int, value: int) -> None:
        """Store a word and let the peripheral watching `address`, if any, react."""
        address &= ~3
        self.write_bytes(address, (value & WORD_MASK).to_bytes(4, "little"))
        hook = self._hooks.get(address)
        if hook is not None:
            hook(address, value & WORD_MASK)

    def seed_word(self, address: int, value: int) -> None:
        """Store a word without waking peripherals (initial register contents)."""
        self.write_bytes(address & ~3, (value & WORD_MASK).to_bytes(4, "little"))

    def on_write(self, address: int, hook: WriteHook) -> None:
        self._hooks[address & ~3] = hook
