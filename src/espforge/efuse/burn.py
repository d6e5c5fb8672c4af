"""Burning eFuses: queue changes with every refusal checked first, then program block by block.

A change is queued as bits in its block's `pending` value. Nothing reaches the chip until
`Programmer.burn` runs, and callers run it only after `check_pending` accepted every block
(and the user confirmed), so a refused plan writes nothing.
"""

from __future__ import annotations

import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from espforge.efuse import values
from espforge.efuse.coding import CODING_34, CODING_NONE, encode_34, rs_encode
from espforge.efuse.state import BlockState, EfuseState, RegisterAccess
from espforge.efuse.table import EfuseError, FieldSpec

IDLE_TIMEOUT = 0.25  # seconds the controller gets to finish a command
PROTECT_FIELDS = ("WR_DIS", "RD_DIS")  # may hold bits already set when more are added
RS_WINDOW_WORDS = 8
MAC_BYTES = 6


@dataclass
class Change:
    """One line of a burn plan."""

    name: str
    description: str
    current: str
    new: str
    locks: list[str] = field(default_factory=list)

    def text(self) -> str:
        line = f"    - '{self.name}' ({self.description}) {self.current} -> {self.new}"
        if self.locks:
            line += "\n        locks: " + ", ".join(self.locks)
        return line


# --- values from the command line ---


def parse_value(state: EfuseState, spec: FieldSpec, text: str | None) -> int:
    """The bits `text` asks for in `spec`, checked as espefuse checks them."""
    if spec.calculated or spec.kind in ("wafer", "pkg", "vref", "psram_cap"):
        raise EfuseError(f"burning {spec.name} is not supported: it is read-only or calculated")
    if spec.kind == "mac":
        return _mac_bits(spec, text)
    if spec.kind == "keypurpose":
        return _purpose_bits(state, text)
    if spec.is_bytes:
        return _bytes_bits(spec, text)
    if spec.type == "bool":
        number = 1 if text is None else _number(spec, text)
        if number != 1:
            raise EfuseError(
                f"{spec.name} is a bit that only burns 0 -> 1: give 1 (or no value), not {text}"
            )
        return 1
    if text is None:
        if spec.kind != "bitcount":
            raise EfuseError(f"{spec.name} needs a value: give one after its name")
        old = state.raw(spec) | state.raw(spec, pending=True)
        return old | (old + 1)  # the lowest clear bit set
    number = _number(spec, text)
    if number == 0 and spec.kind != "bitcount":
        raise EfuseError(f"burning 0 into {spec.name} changes nothing: give a non-zero value")
    if number >> spec.bits:
        raise EfuseError(
            f"{number:#x} does not fit in {spec.name}, which has {spec.bits} bits: "
            f"give at most {(1 << spec.bits) - 1:#x}"
        )
    return number


def _number(spec: FieldSpec, text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise EfuseError(
            f"'{text}' is not a number for {spec.name}: give it in decimal or 0x hex"
        ) from None


def _bytes_bits(spec: FieldSpec, text: str | None) -> int:
    """espefuse's rule: 0x… is the value as a number, plain hex lists the bytes in order."""
    if text is None:
        raise EfuseError(f"{spec.name} needs a value: give {spec.bits // 8} bytes in hex")
    try:
        data = binascii.unhexlify(text[2:])[::-1] if text.startswith("0x") else bytes.fromhex(text)
    except ValueError:
        raise EfuseError(f"'{text}' is not hex bytes for {spec.name}") from None
    return bits_of_bytes(spec, data)


def bits_of_bytes(spec: FieldSpec, data: bytes) -> int:
    if len(data) * 8 != spec.bits:
        raise EfuseError(
            f"{spec.name} holds {spec.bits} bits but the new value has {len(data) * 8}: "
            f"give exactly {spec.bits // 8} bytes"
        )
    return int.from_bytes(data, "little")


def parse_mac(text: str | None) -> bytes:
    if text is None:
        raise EfuseError("a MAC address is needed, in AA:CD:EF:01:02:03 format")
    parts = text.split(" ", 1)[0].split(":")
    try:
        mac = bytes(int(part, 16) for part in parts if len(part) == 2)
    except ValueError:
        mac = b""
    if len(parts) != MAC_BYTES or len(mac) != MAC_BYTES:
        raise EfuseError(
            f"'{text}' is not a MAC address: write its 6 bytes in hex separated by colons, "
            "e.g. AA:CD:EF:01:02:03"
        )
    if mac[0] & 1:
        raise EfuseError(f"'{text}' is a multicast address: a custom MAC must be unicast")
    return mac


def _mac_bits(spec: FieldSpec, text: str | None) -> int:
    if spec.name != "CUSTOM_MAC":
        raise EfuseError(f"burning {spec.name} is not supported: only CUSTOM_MAC can be burned")
    return bits_of_bytes(spec, parse_mac(text))


def _purpose_bits(state: EfuseState, text: str | None) -> int:
    purpose = state.table.purpose(int(text) if text and text.isdigit() else (text or ""))
    if purpose.value <= 0:
        raise EfuseError(
            f"key purpose {purpose.name} cannot be burned: it is the blank state or only a "
            "name burn-key splits into two blocks"
        )
    return purpose.value


# --- queueing ---


def queue_field(state: EfuseState, spec: FieldSpec, new: int, force: bool = False) -> Change:
    """Queue `new` bits for `spec`; refuse what cannot work (unless `force` for protections)."""
    block = state.block_of(spec)
    old = state.raw(spec) | state.raw(spec, pending=True)
    change = Change(
        spec.name,
        spec.description,
        values.bit_text(state.raw(spec), spec.bits),
        values.bit_text(new, spec.bits),
        locks=_locks(state, spec, new),
    )
    if new & state.raw(spec) == new:
        change.new += " (already burned: nothing to do)"
        return change
    if spec.name not in PROTECT_FIELDS and new | old != new:
        raise EfuseError(
            f"{spec.name}: burning {values.bit_text(new, spec.bits)} would have to clear bits "
            f"already set ({values.bit_text(old, spec.bits)}); eFuse bits only go 0 -> 1"
        )
    check_protection(state, spec.name, spec.rd_dis, spec.wr_dis, force)
    block.pending |= new << spec.start
    return change


def check_protection(
    state: EfuseState, name: str, rd_dis: tuple[int, ...], wr_dis: int | None, force: bool
) -> None:
    if force:
        return
    if not state.writeable(wr_dis):
        raise EfuseError(f"{name} is write-protected: it cannot be burned any more")
    if not state.readable(rd_dis):
        raise EfuseError(
            f"{name} is read-protected: it reads as 0, so burning over it may damage the "
            "value already written; use --force-write-always to burn anyway"
        )


def _locks(state: EfuseState, spec: FieldSpec, new: int) -> list[str]:
    """The fields and blocks that burning `new` into WR_DIS or RD_DIS protects."""
    if spec.name not in PROTECT_FIELDS:
        return []
    added = new & ~state.raw(spec)
    attr = "wr_dis" if spec.name == "WR_DIS" else "rd_dis"
    locked = []
    for item in (*state.table.blocks, *state.fields):
        bits = getattr(item, attr)
        bits = (bits,) if isinstance(bits, int) else bits or ()
        if any(added >> bit & 1 for bit in bits) and item.name != spec.name:
            locked.append(item.name)
    return sorted(set(locked), key=locked.index)


def queue_protect(state: EfuseState, name: str, read: bool) -> Change:
    """Queue the RD_DIS/WR_DIS bits that protect field or block `name`."""
    spec = state.field(name)
    bits = spec.rd_dis if read else ((spec.wr_dis,) if spec.wr_dis is not None else ())
    protector = state.field("RD_DIS" if read else "WR_DIS")
    what = "read" if read else "write"
    if not bits:
        raise EfuseError(f"{spec.name} cannot be {what}-protected: it has no {what}-disable bit")
    if not state.writeable(protector.wr_dis):
        raise EfuseError(
            f"{spec.name} cannot be {what}-protected: {protector.name} is write-protected"
        )
    return queue_field(state, protector, sum(1 << bit for bit in bits))


def queue_block_data(
    state: EfuseState, block: BlockState, data: bytes, offset: int, force: bool = False
) -> None:
    """Without an offset the data fills the block exactly; with one, it is padded with 0s."""
    size = block.width // 8
    if offset + len(data) > size or (offset == 0 and len(data) != size):
        raise EfuseError(
            f"{len(data)} bytes at offset {offset} do not fit {block.spec.name} ({size} bytes): "
            "give a file of exactly the block's size, or an --offset to pad it"
        )
    check_protection(state, block.spec.name, block.spec.rd_dis, block.spec.wr_dis, force)
    padded = bytes(offset) + data + bytes(size - offset - len(data))
    block.pending |= int.from_bytes(padded, "little")


# --- checking and programming ---


def check_pending(state: EfuseState, force: bool = False) -> list[str]:
    """Refuse blocks whose coding scheme cannot take the queued bits (unless `force`: the
    controller will then flag the block); notes for the plan."""
    notes = []
    for block in state.blocks:
        if not block.pending:
            continue
        if block.bits & block.pending == block.pending:
            notes.append(f"[{block.index:02}] {block.spec.name:20} already holds these bits")
            block.pending = 0
            continue
        if block.bits == 0 or block.index == 0:
            notes.append(f"[{block.index:02}] {block.spec.name:20} will be burned")
            continue
        if state.coding_scheme == CODING_NONE:
            notes.append(f"[{block.index:02}] {block.spec.name:20} is not empty: bits are added")
            continue
        if state.coding_scheme == CODING_34 and _chunks_compatible(block):
            continue
        if force:
            notes.append(f"[{block.index:02}] {block.spec.name:20} is not empty: forced")
            continue
        raise EfuseError(
            f"{block.spec.name} already holds data and its coding scheme checks the whole "
            "block: it cannot take more bits (use an empty block)"
        )
    return notes


def _chunks_compatible(block: BlockState) -> bool:
    """3/4 coding: each 6-byte chunk can be written once (or again with the same bytes)."""
    chunk_bits = 48
    mask = (1 << chunk_bits) - 1
    for start in range(0, block.width, chunk_bits):
        written = block.bits >> start & mask
        wanted = block.pending >> start & mask
        if written and wanted and written != wanted:
            return False
        if written and wanted:
            block.pending &= ~(mask << start)
    return True


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
            if not block.pending:
                continue
            later = self._postponed_bits(block) if postpone else 0
            block.pending &= ~later
            self.burn_block(block)
            if later:
                self.log("Burn postponed eFuses from BLOCK0.")
                block.pending = later
                self.burn_block(block)

    def _postponed_bits(self, block: BlockState) -> int:
        if block.index != 0:
            return 0
        table = self.state.table
        mask = 0
        for name in table.postponed_fields:
            if table.has_field(name):
                spec = table.field(name)
                mask |= ((1 << spec.bits) - 1) << spec.start
        return block.pending & mask

    def burn_block(self, block: BlockState, verify: bool = True) -> None:
        """Program `block.pending`; `verify` False only for a recovery (errors are re-read)."""
        wanted = block.pending
        self._set_timing()
        self._write_window(block)
        self._program(block.index)
        self.state.reload(self.regs)
        block.pending = 0
        if not verify:
            return
        if block.failed or block.num_errors:
            raise EfuseError(
                f"{block.spec.name} reports coding errors after burning "
                f"(errors {block.num_errors}, fail {block.failed}): run check-error"
            )
        readable = self.state.readable(block.spec.rd_dis)
        if readable and block.bits & wanted != wanted and block.index != 0:
            raise EfuseError(f"burning {block.spec.name} did not set every bit: is it protected?")
        self.log(f"BURN BLOCK{block.index:<2d} - OK")

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
