"""Burning eFuses: queue changes with every refusal checked first, then check the whole plan.

A change is queued as bits in its block's `pending` value. Nothing reaches the chip until
`Programmer.burn` (in `programmer`) runs, and callers run it only after `check_pending` accepted
every block (and the user confirmed), so a refused plan writes nothing. The values a command
line asks for are parsed in `burn_values`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from espforge.efuse import values
from espforge.efuse.coding import CODING_34, CODING_NONE, CODING_RS
from espforge.efuse.state import BlockState, EfuseState
from espforge.efuse.table import EfuseError, FieldSpec

PROTECT_FIELDS = ("WR_DIS", "RD_DIS")  # may hold bits already set when more are added
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
