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
from espforge.efuse.coding import CODING_34, CODING_NONE, CODING_RS, encode_34, rs_encode
from espforge.efuse.state import BlockState, EfuseState, RegisterAccess
from espforge.efuse.table import EfuseError, FieldSpec

IDLE_TIMEOUT = 0.25  # seconds the controller gets to finish a command
PROTECT_FIELDS = ("WR_DIS", "RD_DIS")  # may hold bits already set when more are added
RS_WINDOW_WORDS = 8
MAC_BYTES = 6
CODING_NAMES = {CODING_NONE: "NONE", CODING_34: "3/4", CODING_RS: "RS"}
FORCE_HINT = "(use '--force-write-always' option to ignore it)"


@dataclass
class Change:
    """One line of a burn plan."""

    name: str
    description: str
    current: str
    new: str
    locks: list[str] = field(default_factory=list)
    note: str = ""  # espefuse's remark when the value is already there
    shown: bool = False  # already printed when it was queued (espefuse's burn-efuse lines)

    def text(self) -> str:
        line = f"    - '{self.name}' ({self.description}) {self.current} -> {self.new}"
        if self.locks:
            line += "\n        locks: " + ", ".join(self.locks)
        return line


# --- values from the command line ---


def parse_value(state: EfuseState, spec: FieldSpec, text: str | None) -> int:
    """The bits `text` asks for in `spec`, checked as espefuse checks them."""
    if spec.calculated or spec.kind in ("wafer", "pkg", "vref", "psram_cap"):
        raise EfuseError(f"Burning {spec.name} is not supported.")
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
                f"New value is not accepted for eFuse '{spec.name}' (will always burn 0->1), "
                f"given value={number}"
            )
        return 1
    if text is None:
        if spec.kind != "bitcount":
            raise EfuseError(f"New value required for eFuse '{spec.name}' (given None)")
        old = state.raw(spec) | state.raw(spec, pending=True)
        return old | (old + 1)  # the lowest clear bit set
    number = _number(spec, text)
    if number == 0 and spec.kind != "bitcount":
        raise EfuseError(f"New value should not be 0 for '{spec.name}' (given value= 0)")
    return number


def check_fits(spec: FieldSpec, number: int) -> None:
    """espefuse checks the size only when it shows the new value (bitstring's wording)."""
    if number >> spec.bits:
        raise EfuseError(
            f"{number} is too large an unsigned integer for a bitstring of length {spec.bits}. "
            f"The allowed range is [0, {(1 << spec.bits) - 1}]."
        )


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
        raise EfuseError(f"New value required for eFuse '{spec.name}' (given None)")
    try:
        data = binascii.unhexlify(text[2:])[::-1] if text.startswith("0x") else bytes.fromhex(text)
    except ValueError:
        raise EfuseError(f"'{text}' is not hex bytes for {spec.name}") from None
    return bits_of_bytes(spec, data)


def bits_of_bytes(spec: FieldSpec, data: bytes) -> int:
    if len(data) * 8 != spec.bits:
        raise EfuseError(
            f"The length of eFuse '{spec.name}' ({spec.bits} bits) "
            f"(given len of the new value= {len(data) * 8} bits)"
        )
    return int.from_bytes(data, "little")


def parse_mac(text: str | None) -> bytes:
    if text is None:
        raise EfuseError("Required MAC Address in AA:CD:EF:01:02:03 format!")
    if text.count(":") != MAC_BYTES - 1:
        raise EfuseError(
            f"MAC Address needs to be a {MAC_BYTES}-byte hexadecimal format "
            "separated by colons (:)!"
        )
    digits = text.replace(":", "").split(" ", 1)[0]  # " (OK)" may follow a copied MAC
    if len(digits) != 2 * MAC_BYTES:
        raise EfuseError(
            f"MAC Address needs to be a {MAC_BYTES}-byte hexadecimal number "
            f"({2 * MAC_BYTES} hexadecimal characters)!"
        )
    try:
        mac = bytes.fromhex(digits)
    except ValueError:
        raise EfuseError(f"'{text}' is not a MAC address: its bytes must be hex digits") from None
    if mac[0] & 1:
        raise EfuseError("Custom MAC must be a unicast MAC!")
    return mac


def _mac_bits(spec: FieldSpec, text: str | None) -> int:
    if spec.name != "CUSTOM_MAC":
        raise EfuseError(f"Burning {spec.name} is not supported.")
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


Log = Callable[[str], None]


def refuse(message: str, force: bool | None, log: Log | None = None) -> None:
    """espefuse's refusal: skipped (and said so) under --force-write-always; the hint names the
    option only for commands that have it (force False rather than None)."""
    if force:
        if log is not None:
            log(f"{message} Skipped because '--force-write-always' option.")
        return
    raise EfuseError(message if force is None else message + FORCE_HINT)


def describe(state: EfuseState, spec: FieldSpec, new: int) -> Change:
    """The plan line for burning `new` into `spec`."""
    return Change(
        spec.name,
        spec.description,
        values.bit_text(state.raw(spec), spec.bits),
        values.bit_text(new, spec.bits),
        locks=_locks(state, spec, new),
    )


def queue_field(
    state: EfuseState,
    spec: FieldSpec,
    new: int,
    force: bool | None = None,
    log: Log | None = None,
    change: Change | None = None,
    show: bool = False,
) -> Change:
    """Queue `new` bits for `spec`; refuse what cannot work (unless `force`). `log` gets
    espefuse's remarks; with `show` the plan line goes there first, as espefuse shows it
    before it checks the value."""
    block = state.block_of(spec)
    written, queued = state.raw(spec), state.raw(spec, pending=True)
    old = written | queued
    change = change or describe(state, spec, new)
    if show and log is not None:
        log(change.text())
        change.shown = True
    if not new and not old:
        return change
    if new == old or new & written == new:
        change.note = (
            f"\tThe same value for {spec.name} is already burned. Do not change the eFuse."
        )
    elif new == queued:
        change.note = (
            f"\tThe same value for {spec.name} is already prepared for the burn operation."
        )
    if change.note:
        if log is not None:
            log(change.note)
        return change
    if spec.name not in PROTECT_FIELDS and new | old != new:
        will_be = values.bit_text(old | new, spec.bits)
        refuse(
            f"\tNew value contains some bits that cannot be cleared (value will be {will_be})",
            force,
            log,
        )
    check_protection(state, spec.name, spec.rd_dis, spec.wr_dis, force, log)
    block.pending |= new << spec.start
    return change


def check_protection(
    state: EfuseState,
    name: str,
    rd_dis: tuple[int, ...],
    wr_dis: int | None,
    force: bool | None,
    log: Log | None = None,
) -> None:
    if not state.readable(rd_dis):
        refuse(
            f"\t{name} is read-protected. The written value can not be read, the eFuse/block "
            "looks as all 0.\n\tBurn in this case may damage an already written value.",
            force,
            log,
        )
    if not state.writeable(wr_dis):
        refuse(f"\t{name} is write-protected. Burn is not possible.", force, log)


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


def protect_bits(spec: FieldSpec, read: bool) -> tuple[int, ...]:
    return spec.rd_dis if read else ((spec.wr_dis,) if spec.wr_dis is not None else ())


def queue_protect(
    state: EfuseState, name: str, read: bool, force: bool | None = None, log: Log | None = None
) -> Change:
    """Queue the RD_DIS/WR_DIS bits that protect field or block `name`."""
    spec = state.field(name)
    bits = protect_bits(spec, read)
    protector = state.field("RD_DIS" if read else "WR_DIS")
    what = "read" if read else "write"
    if not bits:
        raise EfuseError(f"This eFuse cannot be {what}-disabled")
    if not state.writeable(protector.wr_dis):
        raise EfuseError(
            f"This eFuse cannot be {what}-disabled due to the {protector.name} field being "
            "already write-disabled"
        )
    return queue_field(state, protector, sum(1 << bit for bit in bits), force, log)


def queue_block_data(state: EfuseState, block: BlockState, data: bytes, offset: int) -> bytes:
    """Without an offset the data fills the block exactly; with one, it is padded with 0s.
    The padded block's bytes are returned; protections are checked with the whole plan."""
    size = block.width // 8
    if offset and offset >= size:
        raise EfuseError(f"Invalid offset: the block{block.index} only holds {size} bytes.")
    padded = bytes(offset) + data
    if offset:
        padded += bytes(max(0, size - len(padded)))
    if len(padded) != size:
        raise EfuseError(
            f"Data does not fit: the block{block.index} size is {size} bytes, "
            f"data file is {len(padded)} bytes, offset {offset}."
        )
    block.pending |= int.from_bytes(padded, "little")
    return padded


# --- checking and programming ---


def check_pending(state: EfuseState, log: Log, force: bool | None = None) -> None:
    """espefuse's check of every block with queued bits, its conclusions logged; refuses
    blocks whose coding scheme cannot take the bits (unless `force`: the controller will then
    flag the block). Bits a block already holds are dropped from the plan."""
    for block in state.blocks:
        if not block.pending:
            continue
        name = f"[{block.index:02}] {block.spec.name:20}"
        spec = block.spec
        check_protection(state, spec.name, spec.rd_dis, spec.wr_dis, force, log)
        if block.bits == 0:
            log(f"{name} is empty, will burn the new value")
            continue
        if block.bits == block.pending:
            log(f"{name} is already written the same value, continue with EMPTY_BLOCK")
            block.pending = 0
            continue
        log(f"{name} is not empty")
        log(f"\t(written ): {values.bit_text(block.bits, block.width)}")
        log(f"\t(to write): {values.bit_text(block.pending, block.width)}")
        if block.bits & block.pending == block.pending:
            log("\tAll wr_data bits are set in the written block, continue with EMPTY_BLOCK.")
            block.pending = 0
            continue
        scheme = CODING_NONE if block.index == 0 else state.coding_scheme
        log(f"\t(coding scheme = {CODING_NAMES[scheme]})")
        if scheme == CODING_NONE or (scheme == CODING_34 and _chunks_compatible(block, log)):
            continue
        refuse(
            f"\tBurn into {block.spec.name} is forbidden "
            f"({CODING_NAMES[scheme]} coding scheme does not allow this).",
            force,
            log,
        )


def _chunks_compatible(block: BlockState, log: Log) -> bool:
    """3/4 coding: each 6-byte chunk can be written once (or again with the same bytes).
    Chunks are numbered from the block's top, as espefuse numbers them."""
    chunk_bits = 48
    mask = (1 << chunk_bits) - 1
    compatible = True
    for number in range(block.width // chunk_bits):
        start = block.width - chunk_bits * (number + 1)
        written = block.bits >> start & mask
        wanted = block.pending >> start & mask
        if not (written and wanted):
            continue
        prefix = f"\twritten chunk [{number}] and wr_chunk are not empty. "
        if written == wanted:
            log(prefix + "wr_chunk == rd_chunk. Continue with empty chunk.")
            block.pending &= ~(mask << start)
            continue
        log(prefix + "wr_chunk != rd_chunk. Can not burn.")
        log(f"\twritten  {values.bit_text(written, chunk_bits)}")
        log(f"\tto write {values.bit_text(wanted, chunk_bits)}")
        compatible = False
    return compatible


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
