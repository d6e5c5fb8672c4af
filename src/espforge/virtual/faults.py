"""Faults a virtual chip can inject into its link, deterministic for a given seed.

Each response packet the chip sends may be dropped, corrupted or delayed; the chip can reset
itself (back into download mode, as a brown-out would) or hang up after a number of commands
(every command counts). Drops, corruption and delays can be limited to some opcodes, so a test
can hit just the FLASH_DATA blocks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from espforge.errors import EspforgeError
from espforge.protocol.commands import Opcode


@dataclass
class FaultPlan:
    seed: int = 0
    drop: float = 0.0  # probability that a response packet is never sent
    corrupt: float = 0.0  # probability that one bit of a response packet is flipped
    delay: float = 0.0  # probability that a response packet comes late
    delay_seconds: float = 0.5
    reset_after: int | None = None  # reset once, after this many commands
    disconnect_after: int | None = None  # hang up after this many commands
    opcodes: frozenset[int] | None = None  # faults only hit these commands (None: all)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @property
    def active(self) -> bool:
        rates = (self.drop, self.corrupt, self.delay)
        return any(rates) or self.reset_after is not None or self.disconnect_after is not None

    def applies_to(self, opcode: int) -> bool:
        return self.opcodes is None or opcode in self.opcodes

    def roll(self, probability: float) -> bool:
        return probability > 0 and self._random.random() < probability

    def corrupt_packet(self, frame: bytes) -> bytes:
        """The encoded frame with one bit flipped somewhere between its END bytes."""
        if len(frame) < 3:
            return frame
        position = self._random.randrange(1, len(frame) - 1)
        flipped = frame[position] ^ (1 << self._random.randrange(8))
        return frame[:position] + bytes([flipped]) + frame[position + 1 :]

    @staticmethod
    def from_text(text: str, seed: int = 0) -> FaultPlan:
        """A plan from "drop=0.1,corrupt=0.05,delay=0.1,reset_after=40,only=FLASH_DATA/MEM_DATA"."""
        plan = FaultPlan(seed=seed)
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, _, value = item.partition("=")
            _apply_option(plan, key.strip(), value.strip(), text)
        plan.__post_init__()
        return plan


def _apply_option(plan: FaultPlan, key: str, value: str, text: str) -> None:
    try:
        if key in ("drop", "corrupt", "delay", "delay_seconds"):
            setattr(plan, key, float(value))
        elif key in ("reset_after", "disconnect_after", "seed"):
            setattr(plan, key, int(value))
        elif key == "only":
            plan.opcodes = frozenset(Opcode[name.strip().upper()] for name in value.split("/"))
        else:
            raise KeyError(key)
    except (KeyError, ValueError):
        raise EspforgeError(
            f"fault option '{key}={value}' in '{text}' is not understood: use drop, corrupt, "
            "delay (probabilities), delay_seconds, reset_after, disconnect_after, seed, "
            "only=OPCODE/OPCODE"
        ) from None
