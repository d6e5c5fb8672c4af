"""The eFuse controller of a virtual chip: its register file, the program and read commands.

The register file covers the controller's whole window (read registers of every block, the
programming registers, command and status registers). Programming ORs the programming
registers into a block's read registers, keeping write-protected bits, checking the coding
scheme, and blanking what read protection hides; the same semantics espefuse's host-test
emulation has, so both read and burn each other's eFuse files.

The file holds the register window as espefuse's --path-efuse-file does: every byte of the
window in reverse order (the last register's top byte first).
"""

from __future__ import annotations

from collections.abc import Callable

from espforge.chips import ChipSpec
from espforge.efuse.coding import (
    CODING_34,
    RS_CHECK_BYTES,
    decode_34,
    esp32_scheme,
    is_consistent_34,
    rs_is_consistent,
)
from espforge.efuse.table import MAIN, BlockSpec, EfuseTable, FieldSpec, load_table, table_chips
from espforge.errors import EspforgeError
from espforge.fileio import write_output
from espforge.virtual.identity import ChipIdentity, seed_registers
from espforge.virtual.memory import AddressSpace

RS_WINDOW_WORDS = 8  # data words of the programming window
RS_CHECK_WORDS = RS_CHECK_BYTES // 4
# GET_SECURITY_INFO's flag bits and the eFuse each comes from (the first name the chip has).
SECURITY_FLAG_FIELDS = (
    (0, ("SECURE_BOOT_EN",)),
    (1, ("SECURE_BOOT_AGGRESSIVE_REVOKE",)),
    (2, ("ENABLE_SECURITY_DOWNLOAD",)),
    (3, ("SECURE_BOOT_KEY_REVOKE0",)),
    (4, ("SECURE_BOOT_KEY_REVOKE1",)),
    (5, ("SECURE_BOOT_KEY_REVOKE2",)),
    (6, ("SOFT_DIS_JTAG",)),
    (7, ("DIS_PAD_JTAG", "HARD_DIS_JTAG")),
    (8, ("DIS_USB", "DIS_USB_OTG")),
    (9, ("DIS_DOWNLOAD_DCACHE",)),
    (10, ("DIS_DOWNLOAD_ICACHE",)),
)
CRYPT_COUNT_FIELDS = ("SPI_BOOT_CRYPT_CNT", "FLASH_CRYPT_CNT")
KEY_PURPOSE_SLOTS = 7  # GET_SECURITY_INFO reports seven key purposes


class EfuseController:
    def __init__(self, table: EfuseTable, path: str | None = None) -> None:
        self.table = table
        self.path = path
        self.image = bytearray(table.mem_size)
        if path is not None:
            self._load(path)

    # --- the register window ---

    def contains(self, address: int) -> bool:
        return 0 <= address - self.table.base < self.table.mem_size

    def read_reg(self, address: int) -> int:
        if not self.contains(address):
            return self._outside_register(address)
        offset = address - self.table.base
        return int.from_bytes(self.image[offset : offset + 4], "little")

    def _outside_register(self, address: int) -> int:
        """Alone (--virt), the controller answers for the one other register eFuse reading
        needs: the ESP32's APB date, whose revision bit is set as on v3 silicon."""
        rule = self.table.wafer_major
        if rule is not None and address == rule["register"][0]:
            _, shift, mask, _ = rule["register"]
            return mask << shift
        return 0

    def _store(self, address: int, value: int) -> None:
        offset = address - self.table.base
        self.image[offset : offset + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")

    def write_reg(self, address: int, value: int) -> None:
        if not self.contains(address):
            return
        self._store(address, value)
        registers = self.table.registers
        if self.table.uses_reed_solomon and address == registers["EFUSE_CMD_REG"]:
            self._rs_command(value)
        elif not self.table.uses_reed_solomon and address == registers["EFUSE_REG_CMD"]:
            self._esp32_command(value)

    def attach(self, memory: AddressSpace) -> None:
        """Show the registers in a chip's address space and react to its writes."""
        step = range(self.table.base, self.table.base + self.table.mem_size, 4)

        def sync() -> None:
            for address in step:
                memory.seed_word(address, self.read_reg(address))

        def on_write(address: int, value: int) -> None:
            self.write_reg(address, value)
            sync()

        for address in step:
            memory.on_write(address, on_write)
        sync()

    def adopt_read_registers(self, read_word: Callable[[int], int]) -> None:
        """Take every block's read registers from `read_word` (a fresh chip's identity)."""
        for block in self.table.blocks:
            for i in range(block.words):
                address = block.read_address + 4 * i
                self._store(address, read_word(address))
        self.save()

    def load_contents(self, blocks: list[bytes], error_words: list[int]) -> None:
        """Set every block's read registers and the error registers (an eFuse token)."""
        for block, data in zip(self.table.blocks, blocks, strict=True):
            for i in range(block.words):
                word = int.from_bytes(data[4 * i : 4 * i + 4], "little")
                self._store(block.read_address + 4 * i, word)
        for address, word in zip(self.table.registers["ERRORS"], error_words, strict=False):
            self._store(address, word)
        self.save()

    @property
    def blank(self) -> bool:
        return not any(self.image)

    # --- commands ---

    def _rs_command(self, value: int) -> None:
        registers = self.table.registers
        if value & registers["EFUSE_PGM_CMD"]:
            self._program(self.table.blocks[(value >> 2) & 0xF])
            self._apply_read_protection()
        self._store(registers["EFUSE_CMD_REG"], 0)
        self.save()

    def _esp32_command(self, value: int) -> None:
        registers = self.table.registers
        if value == registers["EFUSE_CMD_READ"]:
            for block in reversed(self.table.blocks):
                self._program(block)
            self._apply_read_protection()
        self._store(registers["EFUSE_REG_CMD"], 0)
        self.save()

    def _window(self, block: BlockSpec) -> list[int]:
        count = block.words
        if self.table.uses_reed_solomon:
            count = RS_WINDOW_WORDS + (RS_CHECK_WORDS if block.index else 0)
        return [self.read_reg(block.write_address + 4 * i) for i in range(count)]

    def _program(self, block: BlockSpec) -> None:
        window = self._window(block)
        for i in range(min(len(window), RS_WINDOW_WORDS)):  # check words stay, as on espefuse
            self._store(block.write_address + 4 * i, 0)
        data = self._decode(block, window)
        if data is None:
            return
        data &= ~self._write_protected_bits(block)
        for i in range(block.words):
            address = block.read_address + 4 * i
            self._store(address, self.read_reg(address) | (data >> (32 * i) & 0xFFFFFFFF))

    def _decode(self, block: BlockSpec, window: list[int]) -> int | None:
        """The block bits a programming window carries; None when its check words disagree."""
        if block.index and self.table.uses_reed_solomon:
            consistent = rs_is_consistent(window)
            self._flag_coding_error(block, not consistent)
            if not consistent:
                return None
            window = window[: block.words]
        elif block.index and self._esp32_coding() == CODING_34:
            if not is_consistent_34(window):
                return None
            return int.from_bytes(decode_34(window), "little")
        return sum(word << (32 * i) for i, word in enumerate(window[: block.words]))

    def _flag_coding_error(self, block: BlockSpec, failed: bool) -> None:
        """The block's fail bit: what the controller's decoder found in its last program."""
        where = self.table.block_errors[block.index]
        if where is None or where.get("fail") is None:
            return
        address, bit = where["fail"]
        word = self.read_reg(address) & ~(1 << bit)
        self._store(address, word | int(failed) << bit)

    def _esp32_coding(self) -> int:
        registers = self.table.registers
        word = self.read_reg(
            self.table.blocks[0].read_address + 4 * registers["EFUSE_CODING_SCHEME_WORD"]
        )
        return esp32_scheme(word, registers["EFUSE_CODING_SCHEME_MASK"])

    def security_state(self) -> tuple[int, int, list[int]]:
        """GET_SECURITY_INFO's flags, flash-encryption count and key purposes, from eFuses."""
        flags = 0
        for bit, names in SECURITY_FLAG_FIELDS:
            if self._first_field_bits(names):
                flags |= 1 << bit
        purposes = [
            self._field_bits(self.table.field(block.key_purpose))
            for block in self.table.blocks
            if block.key_purpose is not None and self.table.has_field(block.key_purpose)
        ]
        purposes = (purposes + [0] * KEY_PURPOSE_SLOTS)[:KEY_PURPOSE_SLOTS]
        return flags, self._first_field_bits(CRYPT_COUNT_FIELDS), purposes

    def _first_field_bits(self, names: tuple[str, ...]) -> int:
        name = next((n for n in names if self.table.has_field(n)), None)
        return 0 if name is None else self._field_bits(self.table.field(name))

    # --- protection ---

    def _block_bits(self, block: BlockSpec) -> int:
        return sum(
            self.read_reg(block.read_address + 4 * i) << (32 * i) for i in range(block.words)
        )

    def _field_bits(self, spec: FieldSpec) -> int:
        return self._block_bits(self.table.blocks[spec.block]) >> spec.start & (
            (1 << spec.bits) - 1
        )

    def _protect_word(self, name: str) -> int:
        return self._field_bits(self.table.field(name))

    def _main_fields(self, block: BlockSpec) -> list[FieldSpec]:
        return [f for f in self.table.fields if f.group == MAIN and f.block == block.index]

    def _write_protected_bits(self, block: BlockSpec) -> int:
        wr_dis = self._protect_word("WR_DIS")
        if block.wr_dis is not None and wr_dis >> block.wr_dis & 1:
            return (1 << (32 * block.words)) - 1
        mask = 0
        for spec in self._main_fields(block):
            if spec.wr_dis is not None and wr_dis >> spec.wr_dis & 1:
                mask |= ((1 << spec.bits) - 1) << spec.start
        return mask

    def _apply_read_protection(self) -> None:
        rd_dis = self._protect_word("RD_DIS")
        for block in self.table.blocks:
            hidden = self._read_protected_bits(block, rd_dis)
            for i in range(block.words):
                address = block.read_address + 4 * i
                self._store(address, self.read_reg(address) & ~(hidden >> (32 * i)))

    def _read_protected_bits(self, block: BlockSpec, rd_dis: int) -> int:
        width = 32 * block.words
        whole = (1 << width) - 1
        if len(block.rd_dis) == 2:  # one bit per half of the block (ESP32-C2 BLOCK_KEY0)
            low_half = (1 << (width // 2)) - 1
            low, high = (rd_dis >> bit & 1 for bit in block.rd_dis)
            return (low_half if low else 0) | (low_half << (width // 2) if high else 0)
        if any(rd_dis >> bit & 1 for bit in block.rd_dis):
            return whole
        mask = 0
        for spec in self._main_fields(block):
            if any(rd_dis >> bit & 1 for bit in spec.rd_dis):
                mask |= ((1 << spec.bits) - 1) << spec.start
        return mask

    # --- the file ---

    def _load(self, path: str) -> None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            data = b""
        except OSError as error:
            raise EspforgeError(
                f"{path}: cannot read the eFuse file ({error.strerror}); check the path"
            ) from None
        if len(data) == len(self.image):
            self.image[:] = data[::-1]
        else:  # missing, empty or of another chip: a blank memory, as espefuse starts one
            self.save()

    def save(self) -> None:
        if self.path is not None:
            write_output(self.path, bytes(self.image[::-1]))


def efuse_controller_for(
    chip: ChipSpec, identity: ChipIdentity, path: str | None = None
) -> EfuseController | None:
    """The controller of `chip` (None for chips without an eFuse table, the ESP8266).

    A blank memory (no file yet, or an empty one) starts with the chip's identity: the MAC
    and revision words that `seed_registers` places in the eFuse read registers.
    """
    if chip.name not in table_chips():
        return None
    controller = EfuseController(load_table(chip.name), path)
    if controller.blank:
        fresh = AddressSpace()
        seed_registers(fresh, chip, identity)
        controller.adopt_read_registers(fresh.read_word)
    return controller
