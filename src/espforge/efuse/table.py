"""eFuse maps as data: one JSON table per chip under tables/, read by one loader.

A table lists the chip's blocks (where they are read and written, which WR_DIS/RD_DIS bits
guard them), every field (block, word, bit position, length, type, protect bits, meaning of
its values), the eFuse controller's registers and the key purposes. Nothing here knows a chip:
everything a caller needs is in the table.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources

from espforge.errors import EspforgeError

# Field groups as the tables name them.
MAIN, CALC, HIDDEN, USER, VARIANT = "main", "calc", "hidden", "user", "variant"


class EfuseError(EspforgeError):
    """An eFuse operation that cannot be done; the message says why and what to do."""


def _bits(value: int | list[int] | str | None) -> tuple[int, ...]:
    """Protect bits as a tuple: none, one, or several (the tables use all three spellings)."""
    if value is None:
        return ()
    if isinstance(value, int):
        return (value,)
    if isinstance(value, str):
        return tuple(int(part) for part in value.split())
    return tuple(value)


@dataclass(frozen=True)
class BlockSpec:
    name: str
    aliases: tuple[str, ...]
    index: int
    read_address: int
    write_address: int
    wr_dis: int | None
    rd_dis: tuple[int, ...]
    words: int
    key_purpose: str | None  # the field holding this key block's purpose

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    group: str
    block: int
    word: int | None  # None for fields calculated from others
    pos: int | None
    bits: int
    type: str  # "bool", "uint:N" or "bytes:N"
    wr_dis: int | None
    rd_dis: tuple[int, ...]
    aliases: tuple[str, ...]
    category: str | None
    kind: str | None  # how values read: mac, keypurpose, keyblock, wafer, t_sensor, ...
    description: str
    meanings: dict[int, str] | None = None
    parts: tuple[tuple[str, int], ...] = ()  # a calculated field: (field, shift) pairs
    # Numbers the kind's decoding needs, e.g. {"offset": 278} for an ESP32 ADC point.
    kind_args: dict[str, int] = field(default_factory=dict)

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def start(self) -> int:
        """First bit of the field within its block."""
        return (self.word or 0) * 32 + (self.pos or 0)

    @property
    def calculated(self) -> bool:
        return self.word is None or self.pos is None

    @property
    def is_bytes(self) -> bool:
        return self.type.startswith("bytes")


@dataclass(frozen=True)
class KeyPurpose:
    name: str
    value: int
    digest: bool
    reverse: bool
    read_protect: bool


@dataclass(frozen=True)
class EfuseTable:
    chip: str
    registers: dict
    blocks: tuple[BlockSpec, ...]
    fields: tuple[FieldSpec, ...]
    key_purposes: tuple[KeyPurpose, ...]
    variants: dict[str, tuple[FieldSpec, ...]] = field(default_factory=dict)
    # Which field groups a chip shows, and when (e.g. calibration from a block version on).
    group_rules: tuple[dict, ...] = ()
    # A revision-dependent field list: {"label", "min_revision"|"max_revision", "mode"}.
    variant_rule: dict | None = None
    # Which flash-voltage sentence the summary ends with: the first [field, value, text] whose
    # field reads that value (a null field always matches).
    flash_voltage_note: tuple[tuple[str | None, int | None, str], ...] = ()
    # Controller timing to set before programming, per crystal MHz: (register, mask, value).
    programming_timing: dict[int, tuple[tuple[int, int, int], ...]] = field(default_factory=dict)
    # BLOCK0 fields burned last, so that a failed burn can still be repaired over the link.
    postponed_fields: tuple[str, ...] = ()
    # Chips whose key block has no purpose field (ESP32-C2): the field a purpose burns, and
    # a flag eFuse a purpose also sets.
    key_targets: dict[str, str] = field(default_factory=dict)
    key_flags: dict[str, str] = field(default_factory=dict)
    # Purposes a purpose field must not take (a hardware quirk of the last key block).
    forbidden_purposes: dict[str, list[str]] = field(default_factory=dict)
    # ESP32: MAC fields checked by a CRC field, the field a custom MAC's version goes to, and
    # the wafer major version made of two eFuse bits and one register bit.
    mac_crc: dict[str, str] = field(default_factory=dict)
    custom_mac_version: str | None = None
    wafer_major: dict | None = None
    # Chips without key purposes (ESP32): block names whose keys are reversed and read-protected.
    reversed_key_names: tuple[str, ...] = ()
    # Per block, where the controller reports coding errors: None, {"fail": [reg, bit],
    # "count": [reg, mask, shift]} (either may be null), or {"any": [reg, mask]} (ESP32).
    block_errors: tuple[dict | None, ...] = ()
    # Chips whose burn-key-digest takes just KEYFILE: where the digest goes. {"block",
    # "min_revision"}: raw into that block (ESP32); {"block", "purpose"}: as a key of that
    # purpose (ESP32-C2).
    digest_block: dict | None = None
    # adc-info's lines: {"head": [...], "body": [...], "from_block_version": N}; a {FIELD} in a
    # line stands for that field's value, {BLOCK_VERSION} for the block version.
    adc_info: dict | None = None

    def reg(self, name: str) -> int:
        return self.registers[name]

    @property
    def base(self) -> int:
        return self.registers["DR_REG_EFUSE_BASE"]

    @property
    def mem_size(self) -> int:
        return self.registers["EFUSE_MEM_SIZE"]

    @property
    def uses_reed_solomon(self) -> bool:
        """Every chip but the ESP32 codes blocks 1+ with Reed-Solomon and programs by block."""
        return "EFUSE_PGM_DATA0_REG" in self.registers

    @property
    def visible_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.group != HIDDEN)

    def block(self, name_or_index: str | int) -> BlockSpec:
        for block in self.blocks:
            if name_or_index == block.index or name_or_index in block.all_names:
                return block
        names = ", ".join(name for b in self.blocks for name in b.all_names)
        raise EfuseError(f"'{name_or_index}' is not an eFuse block of {self.chip}: use {names}")

    def field(self, name: str) -> FieldSpec:
        for spec in self.visible_fields:
            if name in spec.all_names:
                return spec
        raise EfuseError(
            f"Invalid eFuse name '{name}'. '{name}' is not an eFuse field of {self.chip}: "
            "'summary' lists the names"
        )

    def has_field(self, name: str) -> bool:
        return any(name in spec.all_names for spec in self.visible_fields)

    def purpose(self, name_or_value: str | int) -> KeyPurpose:
        for purpose in self.key_purposes:
            if name_or_value in (purpose.name, purpose.value):
                return purpose
        names = ", ".join(p.name for p in self.key_purposes)
        raise EfuseError(f"'{name_or_value}' is not a key purpose of {self.chip}: use {names}")

    def for_revision(self, revision: int) -> EfuseTable:
        """The table for a chip revision (major * 100 + minor), e.g. ESP32-P4 v3.0+'s own map."""
        rule = self.variant_rule
        if rule is None:
            return self
        if revision < rule.get("min_revision", 0) or revision > rule.get("max_revision", 1 << 30):
            return self
        fields = self.variants[rule["label"]]
        if rule["mode"] == "add":  # its main fields, shown after everything else
            fields = self.fields + tuple(
                replace(f, group=VARIANT) for f in fields if f.group == MAIN
            )
        return replace(self, fields=fields, variant_rule=None)

    def extended(self, csv_text: str, source: str) -> EfuseTable:
        """The table plus the custom fields of an ESP-IDF eFuse table CSV."""
        rows = _csv_rows(csv_text, source)
        names = _custom_field_names(rows, source)
        added = tuple(
            self._csv_field(row, name, alternative, source)
            for row, (name, alternative) in zip(rows, names, strict=True)
        )
        table = replace(self, fields=self.fields + added)
        table.check_unique_names(source)
        return table

    def _csv_field(self, row: list[str], name: str, alternative: str, source: str) -> FieldSpec:
        """One CSV row as a field; as espefuse shows it, the comment gains the bit range."""
        block_text, start_text, count_text = (cell.strip() for cell in row[1:4])
        comment = row[4].strip().rstrip("\\").rstrip() if len(row) > 4 else ""
        try:
            block = self.block(block_text.replace("EFUSE_BLK", "BLOCK")).index
            start = int(start_text, 0)
            count = 256 if count_text == "MAX_BLK_LEN" else int(count_text, 0)
        except (ValueError, EfuseError):
            raise EfuseError(
                f"{source}: row '{','.join(row)}' is not 'name, EFUSE_BLKn, start bit, "
                "bit count, comment'; fix the CSV"
            ) from None
        comment += f" ({start}-{start + count - 1})"
        if count == 1:
            kind = "bool"
        elif count > 32 and count % 8 == 0:
            kind = f"bytes:{count // 8}"
        else:
            kind = f"uint:{count}"
        siblings = [f for f in self.fields if f.block == block and block != 0]
        wr_dis = next((f.wr_dis for f in siblings if f.wr_dis is not None), None)
        rd_dis = next((f.rd_dis for f in siblings if f.rd_dis), ())
        return FieldSpec(
            name=name,
            group=USER,
            block=block,
            word=start // 32,
            pos=start % 32,
            bits=count,
            type=kind,
            wr_dis=wr_dis,
            rd_dis=rd_dis,
            aliases=(alternative,) if alternative else (),
            category="User",
            kind=None,
            description=comment,
        )

    def check_unique_names(self, source: str) -> None:
        seen: set[str] = set()
        for spec in self.visible_fields:
            for name in spec.all_names:
                if name in seen:
                    raise EfuseError(f"{source}: eFuse name '{name}' is defined twice; rename it")
                seen.add(name)


def _csv_rows(text: str, source: str) -> list[list[str]]:
    """Rows of an ESP-IDF eFuse CSV; a row with an empty name continues the field above."""
    rows: list[list[str]] = []
    for row in csv.reader(io.StringIO(text)):
        if not row or row[0].strip().startswith("#") or not "".join(row).strip():
            continue
        if len(row) < 4:
            raise EfuseError(f"{source}: row '{','.join(row)}' has fewer than 4 columns")
        rows.append(row)
    return rows


def _custom_field_names(rows: list[list[str]], source: str) -> list[tuple[str, str]]:
    """Each row's field name and alternative name ("[ALT] ..." starting its comment, or "") as
    espefuse has them: a row with no name is another part of the field above, a name used by
    several rows is numbered NAME_0, NAME_1, ... in order (its alternative name too), and the
    dots of structured names become underscores."""
    bases: list[str] = []
    for row in rows:
        name = row[0].strip() or (bases[-1] if bases else "")
        if not name:
            raise EfuseError(f"{source}: the first field has no name; name it")
        bases.append(name)
    repeated = {name for name in bases if bases.count(name) > 1}
    parts_seen: dict[str, int] = {}
    names = []
    for base, row in zip(bases, rows, strict=True):
        found = re.match(r"\[(.*?)\]", row[4].strip() if len(row) > 4 else "")
        alternative = found.group(1) if found else ""
        name = base
        if base in repeated:
            part = parts_seen.get(base, 0)
            parts_seen[base] = part + 1
            name = f"{base}_{part}"
            alternative = f"{alternative}_{part}" if alternative else ""
        names.append((name.replace(".", "_"), alternative.replace(".", "_")))
    return names


def _field(row: dict) -> FieldSpec:
    meanings = row.get("meanings")
    return FieldSpec(
        name=row["name"],
        group=row["group"],
        block=row["block"],
        word=row["word"],
        pos=row["pos"],
        bits=row["bits"],
        type=row["type"],
        wr_dis=row["wr_dis"],
        rd_dis=_bits(row["rd_dis"]),
        aliases=tuple(a for a in row["aliases"] if a),
        category=row["category"],
        kind=row["kind"],
        description=row["description"],
        meanings={int(k): v for k, v in meanings.items()} if meanings else None,
        parts=tuple((name, shift) for name, shift in row.get("parts", ())),
        kind_args=row.get("kind_args", {}),
    )


@cache
def load_table(chip: str) -> EfuseTable:
    """The eFuse table of `chip` (esptool name such as "esp32c3")."""
    try:
        text = _tables_folder().joinpath(f"{chip}.json").read_text()
    except FileNotFoundError:
        raise EfuseError(
            f"no eFuse table for '{chip}': choose one of {', '.join(table_chips())}"
        ) from None
    data = json.loads(text)
    return EfuseTable(
        chip=data["chip"],
        registers=data["registers"],
        blocks=tuple(
            BlockSpec(
                name=b["name"],
                aliases=tuple(b["aliases"]),
                index=b["index"],
                read_address=b["read_address"],
                write_address=b["write_address"],
                wr_dis=b["wr_dis"],
                rd_dis=_bits(b["rd_dis"]),
                words=b["words"],
                key_purpose=b["key_purpose"],
            )
            for b in data["blocks"]
        ),
        fields=tuple(_field(row) for row in data["fields"]),
        key_purposes=tuple(
            KeyPurpose(
                p["name"],
                p["value"],
                p["digest"] == "DIGEST",
                p["reverse"] is not None,
                p["read_protect"],
            )
            for p in data["key_purposes"]
        ),
        variants={
            label: tuple(_field(row) for row in rows)
            for label, rows in data.get("variants", {}).items()
        },
        group_rules=tuple(data["group_rules"]),
        variant_rule=data.get("variant_rule"),
        flash_voltage_note=tuple(tuple(rule) for rule in data.get("flash_voltage_note", ())),
        programming_timing={
            int(mhz): tuple(tuple(step) for step in steps)
            for mhz, steps in data["programming_timing"].items()
        },
        postponed_fields=tuple(data["postponed_fields"]),
        key_targets=data.get("key_targets", {}),
        key_flags=data.get("key_flags", {}),
        forbidden_purposes=data.get("forbidden_purposes", {}),
        mac_crc=data.get("mac_crc", {}),
        custom_mac_version=data.get("custom_mac_version"),
        wafer_major=data.get("wafer_major"),
        reversed_key_names=tuple(data.get("reversed_key_names", ())),
        block_errors=tuple(data["block_errors"]),
        digest_block=data.get("digest_block"),
        adc_info=data.get("adc_info"),
    )


def _tables_folder():
    return resources.files("espforge.efuse").joinpath("tables")


@cache
def table_chips() -> tuple[str, ...]:
    """The chips with an eFuse table (every chip espefuse 5.6 supports)."""
    names = (p.name for p in _tables_folder().iterdir())
    return tuple(sorted(name.removesuffix(".json") for name in names if name.endswith(".json")))
