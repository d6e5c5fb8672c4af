"""What can be chosen about a virtual chip besides its model and flash: the link's timing and
the chip's options."""

from __future__ import annotations

from dataclasses import dataclass, field

from espforge.virtual.faults import FaultPlan
from espforge.virtual.identity import ChipIdentity
from espforge.virtual.rom import FlashTiming


@dataclass(frozen=True)
class LinkModel:
    """How long things take on the link; all off by default (answers come at once)."""

    throttle: bool = False  # bytes take 10 bit times at the current baud, both ways
    latency: float = 0.0  # seconds before each response starts
    timing: FlashTiming | None = None  # NOR erase/program/MD5 times

    @staticmethod
    def realistic() -> LinkModel:
        return LinkModel(throttle=True, latency=0.0005, timing=FlashTiming())


@dataclass
class ChipOptions:
    """Everything that can be chosen about a virtual chip besides its model and flash."""

    identity: ChipIdentity | None = None  # None: ChipIdentity.default_for(chip)
    link: LinkModel = field(default_factory=LinkModel)
    faults: FaultPlan | None = None
    start_in_app: bool = False  # boot from flash instead of waiting in download mode
    secure_download: bool = False
    log_path: str | None = None  # append every decoded command as a JSON line
    efuse_file: str | None = None  # keep the eFuse memory here (espefuse's --virt file format)
    rollback: bool = False  # the second-stage bootloader is built with app rollback
    emulate_cpu: bool = False  # run uploaded code on an emulated CPU (virtual/cpu)
