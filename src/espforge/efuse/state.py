"""A chip's eFuses as read through its registers, and what each field's bits mean.

Blocks are held as integers: bit n of a block is bit n % 32 of its word n // 32, the order in
which the controller's read registers present it. Fields are bit ranges of a block; how their
bits are shown (MAC, key purpose, signed calibration value, ...) follows the field's `kind`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from espforge.efuse.coding import CODING_34, CODING_NONE, CODING_RS, esp32_scheme
from espforge.efuse.table import MAIN, USER, VARIANT, BlockSpec, EfuseError, EfuseTable, FieldSpec


class RegisterAccess(Protocol):
    """What reads and burns eFuses: a chip over its serial link, or an emulated controller."""

    def read_reg(self, address: int) -> int: ...

    def write_reg(self, address: int, value: int) -> None: ...


@dataclass
class BlockState:
    spec: BlockSpec
    width: int  # data bits the block holds under its coding scheme
    bits: int = 0  # as read
    pending: int = 0  # bits queued for burning
    num_errors: int = 0
    failed: bool = False
    error_bits: int = 0  # BLOCK0: which bits the controller flags as inconsistent

    @property
    def index(self) -> int:
        return self.spec.index

    @property
    def word_count(self) -> int:
        return self.width // 32

    def words(self, pending: bool = False) -> list[int]:
        value = self.pending if pending else self.bits
        return [(value >> (32 * i)) & 0xFFFFFFFF for i in range(self.word_count)]


def _mask(width: int) -> int:
    return (1 << width) - 1


@dataclass
class EfuseState:
    table: EfuseTable
    blocks: list[BlockState]
    coding_scheme: int  # of blocks 1+ (BLOCK0 is never coded)
    fields: list[FieldSpec] = field(default_factory=list)  # shown, in espefuse's order
    wafer_register: int = 0  # the register word the table's wafer_major rule reads, if any
    error_words: list[int] = field(default_factory=list)  # the controller's error registers

    # --- reading ---

    @classmethod
    def read(cls, table: EfuseTable, regs: RegisterAccess) -> EfuseState:
        coding = _coding_scheme(table, regs)
        blocks = []
        for spec in table.blocks:
            words = spec.words * 3 // 4 if coding == CODING_34 and spec.index else spec.words
            blocks.append(BlockState(spec, words * 32))
        state = cls(table, blocks, coding)
        state.reload(regs)
        return state

    def reload(self, regs: RegisterAccess) -> None:
        for block in self.blocks:
            addresses = range(
                block.spec.read_address, block.spec.read_address + block.width // 8, 4
            )
            block.bits = sum(regs.read_reg(a) << (32 * i) for i, a in enumerate(addresses))
        self._read_errors(regs)
        if self.table.wafer_major is not None:
            self.wafer_register = regs.read_reg(self.table.wafer_major["register"][0])
        self.table = self.table.for_revision(self.chip_revision())
        self.fields = self._shown_fields()

    def _read_errors(self, regs: RegisterAccess) -> None:
        self.error_words = [regs.read_reg(a) for a in self.table.registers.get("ERRORS", [])]
        block0 = self.blocks[0]
        words = [regs.read_reg(a) for a in self.table.registers.get("BLOCK0_ERRORS", [])]
        block0.error_bits = sum(w << (32 * i) for i, w in enumerate(words))
        block0.num_errors = bin(block0.error_bits).count("1")
        block0.failed = block0.num_errors != 0
        for block, where in zip(self.blocks[1:], self.table.block_errors[1:], strict=True):
            block.failed, block.num_errors = _block_errors(regs, where)

    def _shown_fields(self) -> list[FieldSpec]:
        by_group: dict[str, list[FieldSpec]] = {}
        for spec in self.table.fields:
            by_group.setdefault(spec.group, []).append(spec)
        shown = by_group.get(MAIN, []) + by_group.get(USER, [])
        for rule in self.table.group_rules:
            if self._rule_holds(rule["when"]):
                shown += by_group.get(rule["group"], [])
        return shown + by_group.get(VARIANT, [])

    def _rule_holds(self, when: dict) -> bool:
        if "coding_scheme" in when:
            return self.coding_scheme == when["coding_scheme"]
        if "field" in when:
            return self.raw(self.table.field(when["field"])) == when["equals"]
        if "block_version_at_least" in when:
            return self.block_version() >= when["block_version_at_least"]
        return True

    # --- versions ---

    def _version(self, major: str, minor: str) -> int:
        table = self.table
        value = 0
        for name, scale in ((major, 100), (minor, 1)):
            if table.has_field(name):
                value += scale * self.raw(table.field(name))
        return value

    def chip_revision(self) -> int:
        return self._version("WAFER_VERSION_MAJOR", "WAFER_VERSION_MINOR")

    def block_version(self) -> int:
        return self._version("BLK_VERSION_MAJOR", "BLK_VERSION_MINOR")

    # --- field bits ---

    def field(self, name: str) -> FieldSpec:
        """The shown field called `name` (ESP32 key blocks differ by coding scheme)."""
        for spec in self.fields:
            if name in spec.all_names:
                return spec
        return self.table.field(name)

    def block_of(self, spec: FieldSpec) -> BlockState:
        return self.blocks[spec.block]

    def raw(self, spec: FieldSpec, pending: bool = False) -> int:
        """The field's bits as an unsigned integer."""
        if spec.calculated and spec.kind == "wafer" and self.table.wafer_major is not None:
            return self._wafer_major(pending)
        if spec.calculated:
            return sum(self.raw(self.table.field(p), pending) << s for p, s in spec.parts)
        block = self.block_of(spec)
        source = block.pending if pending else block.bits
        return source >> spec.start & _mask(spec.bits)

    def _wafer_major(self, pending: bool) -> int:
        """ESP32: revision bits from two eFuses and a register bit, mapped to a major version."""
        rule = self.table.wafer_major
        code = sum(self.raw(self.table.field(name), pending) << bit for name, bit in rule["fields"])
        _, shift, mask, bit = rule["register"]
        code |= (self.wafer_register >> shift & mask) << bit
        return rule["revisions"].get(str(code), 0)

    def field_failed(self, spec: FieldSpec) -> bool:
        block = self.block_of(spec)
        if spec.block == 0:
            return not spec.calculated and bool(block.error_bits >> spec.start & _mask(spec.bits))
        return block.failed or block.num_errors != 0

    # --- protection ---

    def _protect_bits(self, name: str) -> int:
        return self.raw(self.table.field(name))

    def readable(self, rd_dis: tuple[int, ...], part: int | None = None) -> bool:
        if not rd_dis:
            return True
        bits = rd_dis if part is None else (rd_dis[part],)
        mask = sum(1 << bit for bit in bits)
        return self._protect_bits("RD_DIS") & mask == 0

    def writeable(self, wr_dis: int | None) -> bool:
        return wr_dis is None or not self._protect_bits("WR_DIS") >> wr_dis & 1

    def block_for_name(self, name: str) -> BlockState:
        return self.blocks[self.table.block(name).index]


def _block_errors(regs: RegisterAccess, where: dict | None) -> tuple[bool, int]:
    """(failed, number of errors) as the controller's error registers report them."""
    if where is None:
        return False, 0
    if "any" in where:
        address, mask = where["any"]
        return regs.read_reg(address) & mask != 0, 0
    failed, count = False, 0
    if where["fail"] is not None:
        address, bit = where["fail"]
        failed = bool(regs.read_reg(address) >> bit & 1)
    if where["count"] is not None:
        address, mask, shift = where["count"]
        count = regs.read_reg(address) >> shift & mask
    return failed, count


def _coding_scheme(table: EfuseTable, regs: RegisterAccess) -> int:
    """RS on all chips with a programming window; the ESP32 says its own in BLOCK0."""
    if table.uses_reed_solomon:
        return CODING_RS
    registers = table.registers
    word = regs.read_reg(table.blocks[0].read_address + 4 * registers["EFUSE_CODING_SCHEME_WORD"])
    scheme = esp32_scheme(word, registers["EFUSE_CODING_SCHEME_MASK"])
    if scheme not in (CODING_NONE, CODING_34):
        raise EfuseError(f"the eFuse coding scheme {scheme} (REPEAT) is not supported")
    return scheme
