"""Programming the eFuse controller: the timing for the crystal, the write window (Reed-Solomon
or 3/4 coded), the program and read commands, and the verdict read back per block."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from espforge.efuse.coding import CODING_34, encode_34, rs_encode
from espforge.efuse.state import BlockState, EfuseState, RegisterAccess
from espforge.efuse.table import EfuseError, FieldSpec

IDLE_TIMEOUT = 0.25  # seconds the controller gets to finish a command
RS_WINDOW_WORDS = 8


@dataclass
class Programmer:
    """Drives the eFuse controller through its registers, as the reference manual says."""

    state: EfuseState
    regs: RegisterAccess
    crystal_mhz: int | None = None  # None: the chip's usual crystal (40 MHz where supported)
    log: Callable[[str], None] = print

    @property
    def _r(self) -> dict:
        return self.state.table.registers

    def burn(self, postpone: bool = True) -> None:
        """Program every block with pending bits, the highest first, BLOCK0's locks last."""
        for block in reversed(self.state.blocks):
            later = self._postponed_bits(block) if postpone and block.index == 0 else None
            block.pending &= ~(later or 0)
            if block.pending:
                self.burn_block(block)
            if later is not None:
                # espefuse sets the postponed eFuses again (even when none is queued) and so
                # notes the ones already burned
                self.log("Burn postponed eFuses from BLOCK0.")
                self._note_postponed(later)
                block.pending = later
                if later:
                    self.burn_block(block)

    def _postponed_specs(self) -> list[FieldSpec]:
        table = self.state.table
        return [table.field(name) for name in table.postponed_fields if table.has_field(name)]

    def _postponed_bits(self, block: BlockState) -> int:
        mask = 0
        for spec in self._postponed_specs():
            mask |= ((1 << spec.bits) - 1) << spec.start
        return block.pending & mask

    def _note_postponed(self, later: int) -> None:
        for spec in self._postponed_specs():
            new = later >> spec.start & ((1 << spec.bits) - 1)
            written = self.state.raw(spec)
            if written and new & written == new:
                self.log(
                    f"\tThe same value for {spec.name} is already burned. Do not change the eFuse."
                )

    def burn_block(self, block: BlockState, verify: bool = True) -> None:
        """Program `block.pending`; `verify` False only for a recovery (errors are re-read)."""
        wanted, before = block.pending, block.bits
        self._set_timing()
        self._write_window(block)
        self._program(block.index)
        self.state.reload(self.regs)
        block.pending = 0
        if not verify:
            return
        if block.failed or block.num_errors:
            raise EfuseError("Error(s) were detected in eFuses")
        self._report_burn(block, wanted, before)

    def _report_burn(self, block: BlockState, wanted: int, before: int) -> None:
        """espefuse's verdict on a burned block, read back."""
        spec = block.spec
        if not self.state.readable(spec.rd_dis):
            self.log(
                f"{spec.name} ({list(spec.aliases)}) is read-protected. "
                "Read back the burn value is not possible."
            )
            if block.bits:
                raise EfuseError(
                    f"The {spec.name} is read-protected but not all '0' ({block.bits:x})"
                )
            self.log("Read all '0'")
        elif block.bits == wanted:
            self.log(f"BURN BLOCK{block.index:<2d} - OK (write block == read block)")
        elif block.bits & wanted == wanted and block.bits & before == before:
            self.log(f"BURN BLOCK{block.index:<2d} - OK (all write block bits are set)")
        elif block.index != 0:  # BLOCK0 reads its read-protected fields as 0
            raise EfuseError(f"Burn {spec.name} ({list(spec.aliases)}) was not successful.")

    def _set_timing(self) -> None:
        timing = self.state.table.programming_timing
        mhz = self.crystal_mhz or (40 if 40 in timing else next(iter(timing), None))
        steps = timing.get(mhz) if mhz is not None else ()
        if steps is None:
            raise EfuseError(
                f"the eFuse controller of {self.state.table.chip} cannot be timed for a "
                f"{mhz} MHz crystal"
            )
        for address, mask, value in steps:
            shift = (mask & -mask).bit_length() - 1
            current = self.regs.read_reg(address)
            self.regs.write_reg(address, current & ~mask | (value << shift) & mask)

    def _window_words(self, block: BlockState) -> list[int]:
        data = block.pending.to_bytes(block.width // 8, "little")
        if self.state.table.uses_reed_solomon:
            if block.index == 0:
                return block.words(pending=True) + [0] * (RS_WINDOW_WORDS - block.word_count)
            return rs_encode(data)
        if block.index and self.state.coding_scheme == CODING_34:
            return encode_34(data)
        return block.words(pending=True)

    def _write_window(self, block: BlockState) -> None:
        if self.state.table.uses_reed_solomon:
            self._clear_window()
        address = block.spec.write_address
        for i, word in enumerate(self._window_words(block)):
            self.regs.write_reg(address + 4 * i, word)

    def _clear_window(self) -> None:
        start = self._r["EFUSE_PGM_DATA0_REG"]
        for i in range(RS_WINDOW_WORDS):
            self.regs.write_reg(start + 4 * i, 0)

    def _program(self, index: int) -> None:
        r = self._r
        if self.state.table.uses_reed_solomon:
            self._wait_idle(r["EFUSE_CMD_REG"], r["EFUSE_PGM_CMD"] | r["EFUSE_READ_CMD"])
            self.regs.write_reg(r["EFUSE_CONF_REG"], r["EFUSE_WRITE_OP_CODE"])
            self.regs.write_reg(r["EFUSE_CMD_REG"], r["EFUSE_PGM_CMD"] | index << 2)
            self._wait_idle(r["EFUSE_CMD_REG"], r["EFUSE_PGM_CMD"] | r["EFUSE_READ_CMD"])
            self._clear_window()
            self.regs.write_reg(r["EFUSE_CONF_REG"], r["EFUSE_READ_OP_CODE"])
            self.regs.write_reg(r["EFUSE_CMD_REG"], r["EFUSE_READ_CMD"])
            self._wait_idle(r["EFUSE_CMD_REG"], r["EFUSE_PGM_CMD"] | r["EFUSE_READ_CMD"])
            return
        busy = r["EFUSE_CMD_OP_MASK"]
        self.regs.write_reg(r["EFUSE_REG_CONF"], r["EFUSE_CONF_WRITE"])
        self.regs.write_reg(r["EFUSE_REG_CMD"], r["EFUSE_CMD_WRITE"])
        self._wait_idle(r["EFUSE_REG_CMD"], busy)
        self.regs.write_reg(r["EFUSE_REG_CONF"], r["EFUSE_CONF_READ"])
        self.regs.write_reg(r["EFUSE_REG_CMD"], r["EFUSE_CMD_READ"])
        self._wait_idle(r["EFUSE_REG_CMD"], busy)

    def _wait_idle(self, command_reg: int, busy: int) -> None:
        deadline = time.monotonic() + IDLE_TIMEOUT
        while self.regs.read_reg(command_reg) & busy:
            if time.monotonic() > deadline:
                raise EfuseError(
                    "the eFuse controller did not finish its command: reset the chip and retry"
                )
