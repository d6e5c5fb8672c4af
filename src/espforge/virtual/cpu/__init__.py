"""Running uploaded code on an emulated CPU (the `cpu=emulate` option of a virtual chip).

Only this package's `session` and `machine` modules import unicorn, an optional extra: the
table of emulated chips below does not, so options can be checked without it.
"""

from __future__ import annotations

from espforge.chips import ChipSpec, esp32c3
from espforge.chips.cpu_map import CpuMemoryMap

CPU_MAPS: dict[str, CpuMemoryMap] = {esp32c3.CHIP.name: esp32c3.CPU_MAP}


def cpu_map_for(chip: ChipSpec) -> CpuMemoryMap | None:
    """The CPU's memory map when this chip's uploaded code can be emulated, else None."""
    return CPU_MAPS.get(chip.name)
