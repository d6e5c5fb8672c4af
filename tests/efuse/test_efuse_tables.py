"""espforge's eFuse tables against espefuse 5.6's definitions (test-only oracle), every chip."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from espforge.efuse.table import HIDDEN, EfuseError, load_table, table_chips

pytest.importorskip("espefuse", reason="espefuse (test-only oracle) is absent")
yaml = pytest.importorskip("yaml")

CHIPS = [
    "esp32",
    "esp32c2",
    "esp32c3",
    "esp32c5",
    "esp32c6",
    "esp32c61",
    "esp32e22",
    "esp32h2",
    "esp32h21",
    "esp32h4",
    "esp32p4",
    "esp32s2",
    "esp32s3",
    "esp32s31",
]
# espefuse's field lists and the group names our tables give them.
GROUPS = {
    "EFUSES": "main",
    "KEYBLOCKS": "keyblock",
    "KEYBLOCKS_256": "keyblock_256",
    "KEYBLOCKS_192": "keyblock_192",
    "CUSTOM_MAC": "custom_mac",
    "ADC_CALIBRATION": "adc_calibration",
    "CALIBRATION_EFUSES": "calibration",
    "CALC": "calc",
}


def _oracle(chip: str, revision: str | None = None):
    definitions = importlib.import_module(f"espefuse.efuse.{chip}.mem_definition")
    fields_class = definitions.EfuseDefineFields
    takes_revision = "revision" in inspect.signature(fields_class.__init__).parameters
    fields = fields_class(None, revision=revision) if takes_revision else fields_class(None)
    return definitions, fields


def _as_tuple(bits) -> tuple[int, ...]:
    if bits is None:
        return ()
    if isinstance(bits, int):
        return (bits,)
    return tuple(int(b) for b in (bits.split() if isinstance(bits, str) else bits))


def _oracle_rows(fields) -> list[tuple]:
    rows = []
    for attribute, group in GROUPS.items():
        for f in getattr(fields, attribute, None) or []:
            rows.append(
                (
                    group,
                    f.name,
                    f.block,
                    f.word,
                    f.pos,
                    f.bit_len,
                    f.type,
                    f.write_disable_bit,
                    _as_tuple(f.read_disable_bit),
                    tuple(a for a in f.alt_names if a),
                    f.category,
                    f.class_type or None,
                    f.description,
                )
            )
    return rows


def _our_rows(fields) -> list[tuple]:
    return [
        (
            f.group,
            f.name,
            f.block,
            f.word,
            f.pos,
            f.bits,
            f.type,
            f.wr_dis,
            f.rd_dis,
            f.aliases,
            f.category,
            f.kind,
            f.description,
        )
        for f in fields
        if f.group != HIDDEN
    ]


def test_a_table_for_every_chip_espefuse_supports() -> None:
    assert table_chips() == tuple(sorted(CHIPS))


@pytest.mark.parametrize("chip", CHIPS)
def test_fields_match_espefuse(chip: str) -> None:
    _, fields = _oracle(chip)
    assert _our_rows(load_table(chip).fields) == _oracle_rows(fields)


@pytest.mark.parametrize("chip", CHIPS)
def test_hidden_fields_match_the_yaml(chip: str) -> None:
    definitions, _ = _oracle(chip)
    yaml_file = Path(definitions.__file__).parents[2] / "efuse_defs" / f"{chip}.yaml"
    entries = yaml.safe_load(yaml_file.read_text())["EFUSES"]
    expected = [
        (name, e["blk"], e["word"], e["pos"], e["len"], e["type"])
        for name, e in entries.items()
        if e["show"] != "y"
    ]
    ours = [
        (f.name, f.block, f.word, f.pos, f.bits, f.type)
        for f in load_table(chip).fields
        if f.group == HIDDEN
    ]
    assert ours == expected


@pytest.mark.parametrize("chip", CHIPS)
def test_blocks_and_registers_match_espefuse(chip: str) -> None:
    definitions, _ = _oracle(chip)
    table = load_table(chip)
    blocks = [definitions.EfuseDefineBlocks.get(b) for b in definitions.EfuseDefineBlocks.BLOCKS]
    assert [
        (
            b.name,
            b.aliases,
            b.index,
            b.read_address,
            b.write_address,
            b.wr_dis,
            b.rd_dis,
            b.words,
            b.key_purpose,
        )
        for b in table.blocks
    ] == [
        (
            b.name,
            tuple(b.alias),
            b.id,
            b.rd_addr,
            b.wr_addr,
            b.write_disable_bit,
            _as_tuple(b.read_disable_bit),
            b.len,
            b.key_purpose,
        )
        for b in blocks
    ]
    registers = definitions.EfuseDefineRegisters
    assert table.base == registers.DR_REG_EFUSE_BASE
    assert table.mem_size == registers.EFUSE_MEM_SIZE


@pytest.mark.parametrize("chip", [c for c in CHIPS if c not in ("esp32", "esp32c2")])
def test_key_purposes_match_espefuse(chip: str) -> None:
    fields = importlib.import_module(f"espefuse.efuse.{chip}.fields")
    expected = [
        (name, value, digest == "DIGEST", reverse is not None, protect == "need_rd_protect")
        for name, value, digest, reverse, protect in fields.EfuseKeyPurposeField.KEY_PURPOSES
    ]
    ours = [
        (p.name, p.value, p.digest, p.reverse, p.read_protect)
        for p in load_table(chip).key_purposes
    ]
    assert ours == expected


@pytest.mark.parametrize(
    ("chip", "revision", "label"),
    [("esp32h2", "esp32h2_v0.0_v1.1", "v0.0-v1.1"), ("esp32p4", "esp32p4_v3.0", "v3.0+")],
)
def test_revision_variants_match_espefuse(chip: str, revision: str, label: str) -> None:
    _, fields = _oracle(chip, revision)
    assert _our_rows(load_table(chip).variants[label]) == _oracle_rows(fields)


def test_p4_v3_uses_its_own_map_and_h2_v1_adds_fields() -> None:
    p4 = load_table("esp32p4")
    assert p4.for_revision(300).fields == p4.variants["v3.0+"]
    assert p4.for_revision(100) is p4
    h2 = load_table("esp32h2")
    added = h2.for_revision(101).fields[len(h2.fields) :]
    assert added and all(f.group == "variant" for f in added)
    assert h2.for_revision(102) is h2


def test_lookup_by_alias_and_clear_refusals() -> None:
    table = load_table("esp32c3")
    assert table.field("KEY0_PURPOSE").name == "KEY_PURPOSE_0"
    assert table.block("BLOCK4").name == "BLOCK_KEY0"
    with pytest.raises(EfuseError, match="'NOPE' is not an eFuse field of esp32c3"):
        table.field("NOPE")
    with pytest.raises(EfuseError, match="no eFuse table for 'esp8266'"):
        load_table("esp8266")


def test_extend_efuse_table_from_an_esp_idf_csv() -> None:
    csv_text = (
        "# field_name, efuse_block, bit_start, bit_count, comment\n"
        "MODULE_VERSION, EFUSE_BLK3, 56, 8, Module version\n"
        "DEVICE_ROLE, EFUSE_BLK3, 64, 3, Device role\n"
        "SERIAL_NUMBER, EFUSE_BLK3, 128, 64, Serial number\n"
    )
    table = load_table("esp32c3").extended(csv_text, "custom.csv")
    role = table.field("DEVICE_ROLE")
    assert (role.block, role.word, role.pos, role.type, role.category) == (
        3,
        2,
        0,
        "uint:3",
        "User",
    )
    assert table.field("SERIAL_NUMBER").type == "bytes:8"
    assert role.wr_dis == table.block(3).wr_dis
    with pytest.raises(EfuseError, match="defined twice"):
        table.extended("WDT_DELAY_SEL, EFUSE_BLK3, 0, 2, clash\n", "clash.csv")
