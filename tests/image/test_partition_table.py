"""Partition tables: ESP-IDF's CSV and binary forms, every rule, the model, and round trips."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import random
import string

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fixture_path
from espforge.cli.main import build_cli
from espforge.errors import ImageError
from espforge.image.partition_table import (
    APP,
    DATA,
    Partition,
    PartitionTable,
    is_binary_table,
    parse_binary,
    parse_csv,
)

# ---------------------------------------------------------------- known binaries


def entry(name: str, ptype: int, subtype: int, offset: int, size: int, flags: int = 0) -> bytes:
    """One 32-byte entry laid out field by field from the reference."""
    return (
        b"\xaa\x50"
        + bytes([ptype, subtype])
        + offset.to_bytes(4, "little")
        + size.to_bytes(4, "little")
        + name.encode().ljust(16, b"\0")
        + flags.to_bytes(4, "little")
    )


def table_binary(*entries: bytes, md5: bool = True) -> bytes:
    body = b"".join(entries)
    if md5:
        body += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(body).digest()
    return body + b"\xff" * (0xC00 - len(body))


# ESP-IDF's stock tables (components/partition_table/*.csv), as ESP-IDF ships them.
SINGLE_APP_CSV = """\
# Name,   Type, SubType, Offset,  Size, Flags
# Note: if you have increased the bootloader size, make sure to update the offsets to avoid overlap
nvs,      data, nvs,     ,        0x6000,
phy_init, data, phy,     ,        0x1000,
factory,  app,  factory, ,        1M,
"""
SINGLE_APP_LARGE_CSV = SINGLE_APP_CSV.replace("1M,", "1500K,")
TWO_OTA_CSV = """\
# Name,   Type, SubType, Offset,   Size, Flags
# Note: if you have increased the bootloader size, make sure to update the offsets to avoid overlap
nvs,      data, nvs,     ,        0x4000,
otadata,  data, ota,     ,        0x2000,
phy_init, data, phy,     ,        0x1000,
factory,  app,  factory, ,        1M,
ota_0,    app,  ota_0,   ,        1M,
ota_1,    app,  ota_1,   ,        1M,
"""

STANDARD_TABLES = {
    "singleapp": (
        SINGLE_APP_CSV,
        [
            ("nvs", DATA, 0x02, 0x9000, 0x6000),
            ("phy_init", DATA, 0x01, 0xF000, 0x1000),
            ("factory", APP, 0x00, 0x10000, 0x100000),
        ],
        "nvs,data,nvs,0x9000,24K,\nphy_init,data,phy,0xf000,4K,\nfactory,app,factory,0x10000,1M,\n",
    ),
    "singleapp_large": (
        SINGLE_APP_LARGE_CSV,
        [
            ("nvs", DATA, 0x02, 0x9000, 0x6000),
            ("phy_init", DATA, 0x01, 0xF000, 0x1000),
            ("factory", APP, 0x00, 0x10000, 1500 * 1024),
        ],
        "nvs,data,nvs,0x9000,24K,\nphy_init,data,phy,0xf000,4K,\n"
        "factory,app,factory,0x10000,1500K,\n",
    ),
    "two_ota": (
        TWO_OTA_CSV,
        [
            ("nvs", DATA, 0x02, 0x9000, 0x4000),
            ("otadata", DATA, 0x00, 0xD000, 0x2000),
            ("phy_init", DATA, 0x01, 0xF000, 0x1000),
            ("factory", APP, 0x00, 0x10000, 0x100000),
            ("ota_0", APP, 0x10, 0x110000, 0x100000),
            ("ota_1", APP, 0x11, 0x210000, 0x100000),
        ],
        "nvs,data,nvs,0x9000,16K,\notadata,data,ota,0xd000,8K,\nphy_init,data,phy,0xf000,4K,\n"
        "factory,app,factory,0x10000,1M,\nota_0,app,ota_0,0x110000,1M,\n"
        "ota_1,app,ota_1,0x210000,1M,\n",
    ),
}
CSV_HEADER = "# ESP-IDF Partition Table\n# Name, Type, SubType, Offset, Size, Flags\n"


def fields(table: PartitionTable) -> list[tuple]:
    return [(p.name, p.type, p.subtype, p.offset, p.size) for p in table]


def test_fixture_is_esptools_single_app_table():
    data = fixture_path("images", "partitions_singleapp.bin").read_bytes()
    table = parse_binary(data)
    assert fields(table) == [
        ("factory", APP, 0x00, 0x10000, 0x100000),
        ("rfdata", DATA, 0x01, 0x110000, 0x40000),
        ("wifidata", DATA, 0x02, 0x150000, 0x40000),
    ]
    # The fixture holds the three entries alone (no MD5 row, no padding).
    assert table.to_binary(md5=False) == data + b"\xff" * (0xC00 - len(data))
    assert table.to_csv() == CSV_HEADER + (
        "factory,app,factory,0x10000,1M,\nrfdata,data,phy,0x110000,256K,\n"
        "wifidata,data,nvs,0x150000,256K,\n"
    )


@pytest.mark.parametrize("name", STANDARD_TABLES)
def test_standard_tables_convert_both_ways(name):
    source, expected, csv_rows = STANDARD_TABLES[name]
    table = parse_csv(source)
    assert fields(table) == expected
    binary = table.to_binary()
    assert binary == table_binary(*(entry(*row) for row in expected))
    assert table.to_binary(md5=False) == table_binary(*(entry(*row) for row in expected), md5=False)
    assert parse_binary(binary) == table
    assert table.to_csv() == CSV_HEADER + csv_rows
    assert parse_csv(table.to_csv()).to_binary() == binary


def test_two_ota_model_queries():
    table = parse_csv(TWO_OTA_CSV)
    assert table.get("phy_init").offset == 0xF000
    assert table.find("missing") is None
    with pytest.raises(ImageError, match="no partition named 'missing'.*nvs, otadata"):
        table.get("missing")
    assert table.find_by_type("data", "phy").name == "phy_init"
    assert table.find_by_type("APP", "OTA_1").name == "ota_1"
    assert table.find_by_type(0, 0x10).name == "ota_0"
    assert table.find_by_type("app").name == "factory"
    assert table.find_by_type("data", "spiffs") is None
    assert table.boot_default().name == "factory"
    assert [p.name for p in table.ota_slots()] == ["ota_0", "ota_1"]
    assert table.otadata().name == "otadata"
    assert table.end == 0x310000
    assert table.free_gaps() == []
    assert table.free_gaps(0x400000) == [(0x310000, 0x400000)]


def test_boot_default_slots_and_gaps_without_factory():
    table = parse_csv(
        "otadata, data, ota, 0xd000, 0x2000\n"
        "b, app, ota_1, 0x20000, 64K\n"
        "a, app, ota_0, 0x40000, 64K\n"
        "store, data, spiffs, 0x60000, 0x8000\n"
    )
    assert table.boot_default().name == "a"
    assert [p.name for p in table.ota_slots()] == ["a", "b"]
    assert table.free_gaps(0x100000) == [
        (0x9000, 0xD000),
        (0xF000, 0x20000),
        (0x30000, 0x40000),
        (0x50000, 0x60000),
        (0x68000, 0x100000),
    ]
    assert PartitionTable(()).boot_default() is None


# ------------------------------------------------------------------- CSV syntax


def test_csv_syntax_comments_case_numbers_and_suffixes():
    table = parse_csv(
        "\n"
        "   # a comment line\n"
        "  NVS , DATA , NVS , 36K , 24k   # trailing comment\n"
        "\n"
        "raw,0x01,0x81,0xf000,4096\n"
        "Factory, App, Factory, 0x10000, 1m\n"
        "blob, 0x40, 7, , 8K, encrypted:readonly\n"
        "ota, app, OTA_3, , 0x10000, encrypted\n"
        "keys, data, nvs_keys, , 4K, readonly\n"
    )
    assert [(p.name, p.type, p.subtype, p.offset, p.size, p.flags) for p in table] == [
        ("NVS", DATA, 0x02, 0x9000, 0x6000, ()),
        ("raw", DATA, 0x81, 0xF000, 0x1000, ()),
        ("Factory", APP, 0x00, 0x10000, 0x100000, ()),
        ("blob", 0x40, 7, 0x110000, 0x2000, ("encrypted", "readonly")),
        ("ota", APP, 0x13, 0x120000, 0x10000, ("encrypted",)),
        ("keys", DATA, 0x04, 0x130000, 0x1000, ("readonly",)),
    ]
    assert table.to_csv().splitlines()[5] == "blob,64,7,0x110000,8K,encrypted:readonly"


def test_empty_offsets_placement():
    table = parse_csv(
        "nvs, data, nvs, , 0x5000\napp0, app, factory, , 64K\nd1, data, fat, , 0x1000\n"
        "d2, data, fat, 0x40000, 0x1000\nd3, data, fat, , 0x1000\n",
        table_offset=0x10000,
    )
    assert [p.offset for p in table] == [0x11000, 0x20000, 0x30000, 0x40000, 0x41000]


def test_negative_size_ends_the_partition_at_that_address():
    table = parse_csv("nvs, data, nvs, , 0x6000\nfactory, app, factory, , -0x200000\n")
    assert (table.get("factory").offset, table.get("factory").size) == (0x10000, 0x1F0000)
    table = parse_csv("fs, data, spiffs, 0x100000, -2M\n")
    assert table.get("fs").size == 0x100000


def test_empty_data_subtype_is_undefined():
    assert parse_csv("blob, data, , 0x9000, 4K").get("blob").subtype == 0x06


def test_variables_come_from_the_environment():
    environ = {"NVS_SIZE": "0x6000", "APP": "factory"}
    table = parse_csv("nvs, data, nvs, , $NVS_SIZE\n${APP}, app, $APP, , 1M\n", environ=environ)
    assert fields(table) == [
        ("nvs", DATA, 2, 0x9000, 0x6000),
        ("factory", APP, 0, 0x10000, 1 << 20),
    ]
    # An unknown variable in a comment is only a comment.
    assert len(parse_csv("# uses $UNSET\nnvs, data, nvs, , 0x6000", environ={})) == 1


def test_bootloader_and_table_entries_may_sit_below_the_table():
    table = parse_csv(
        "bootloader, bootloader, primary, , \n"
        "partition_table, partition_table, primary, , \n"
        "nvs, data, nvs, , 0x6000\n",
        bootloader_offset=0x1000,
    )
    assert fields(table) == [
        ("bootloader", 2, 0, 0x1000, 0x7000),
        ("partition_table", 3, 0, 0x8000, 0x1000),
        ("nvs", DATA, 2, 0x9000, 0x6000),
    ]
    assert parse_binary(table.to_binary()) == table
    written_na = "boot, bootloader, primary, N/A, N/A\ntable, partition_table, primary, n/a, n/a"
    assert fields(parse_csv(written_na, bootloader_offset=0x2000)) == [
        ("boot", 2, 0, 0x2000, 0x6000),
        ("table", 3, 0, 0x8000, 0x1000),
    ]
    with pytest.raises(ImageError, match="line 1.*--primary-bootloader-offset"):
        parse_csv("bootloader, bootloader, primary, , ")


# ------------------------------------------------------------------ every rule

RULE_CASES = {
    "app offset alignment": (
        "factory, app, factory, 0x11000, 1M",
        "line 1 (partition 'factory'): offset 0x11000 is not aligned to 0x10000",
    ),
    "data offset alignment": ("nvs, data, nvs, 0x9100, 0x6000", "not aligned to 0x1000"),
    "custom offset alignment": ("x, 0x40, 0, 0x9800, 0x1000", "not aligned to 0x1000"),
    "app size alignment": ("factory, app, factory, , 0x10800", "not a multiple of 0x1000"),
    "below the table": ("nvs, data, nvs, 0x8000, 0x6000", "is below 0x9000"),
    "overlap": (
        "a, data, nvs, , 0x6000\nb, data, fat, 0xa000, 0x1000",
        "line 2 (partition 'b'): at 0xa000 it overlaps partition 'a' (0x9000-0xefff)",
    ),
    "duplicate name": (
        "nvs, data, nvs, , 0x6000\nnvs, data, fat, , 0x1000",
        "line 2 (partition 'nvs'): the name is used twice (also line 1)",
    ),
    "two otadata": (
        "o1, data, ota, , 0x2000\no2, data, ota, , 0x2000",
        "partition 'o2'): a second data/ota partition",
    ),
    "otadata size": ("otadata, data, ota, , 0x1000", "size is 0x1000, it must be exactly 0x2000"),
    "unknown flag": ("nvs, data, nvs, , 0x6000, secret", "unknown flag 'secret'"),
    "unknown flag among known": (
        "nvs, data, fat, , 4K, readonly:encrypt",
        "unknown flag 'encrypt'",
    ),
    "name too long": ("a_very_long_namex, data, nvs, , 0x6000", "17 bytes long; at most 16"),
    "name too long in UTF-8": ("ééééééééé, data, nvs, , 0x6000", "18 bytes long; at most 16"),
    "empty name": (", data, nvs, , 0x6000", "line 1: the name field is empty"),
    "readonly app": ("factory, app, factory, , 1M, readonly", "app/factory partitions cannot be"),
    "readonly otadata": ("otadata, data, ota, , 0x2000, readonly", "data/ota partitions cannot"),
    "readonly coredump": ("cd, data, coredump, , 64K, readonly", "data/coredump partitions cannot"),
    "small writable nvs": ("nvs, data, nvs, , 0x2000", "NVS size 0x2000 is below 0x3000"),
    "empty app subtype": ("factory, app, , , 1M", "line 1: an app partition needs a subtype"),
    "empty type": ("factory, , factory, , 1M", "the type field is empty"),
    "unknown type": ("x, blob, 0, , 1M", "type 'blob' is not known: give a number or one of app"),
    "unknown subtype": ("x, data, blob, , 4K", "subtype 'blob' is not known"),
    "reserved type number": ("x, 0x10, 0, , 4K", "type 0x10 is not app, data, bootloader"),
    "subtype 0xff": ("x, data, 0xff, , 4K", "subtype 0xff is outside 0x00-0xfe"),
    "bad size": ("x, data, fat, , 0xZZ", "size '0xZZ' is not a number"),
    "bad offset": ("x, data, fat, 9000h, 4K", "offset '9000h' is not a number"),
    "negative offset": ("x, data, fat, -0x9000, 4K", "offset '-0x9000' is negative"),
    "empty size": ("x, data, fat, , ", "the size field is empty"),
    "zero size": ("x, data, fat, , 0", "size 0x0 is not positive"),
    "negative size before its offset": ("x, data, fat, 0x9000, -0x9000", "ends it before"),
    "too many fields": ("x, data, fat, , 4K, readonly, encrypted", "has 7 fields"),
    "unknown variable": ("x, data, fat, , $NOPE", "line 1: unknown variable $NOPE"),
}


@pytest.mark.parametrize("name", RULE_CASES)
def test_every_rule_violation_is_one_line_naming_where(name):
    text, message = RULE_CASES[name]
    with pytest.raises(ImageError) as caught:
        parse_csv(text, environ={}, source="parts.csv")
    problem = str(caught.value)
    assert message in problem
    assert problem.startswith("parts.csv: line ")
    assert "\n" not in problem


def test_secure_boot_requires_64k_app_sizes():
    text = "factory, app, factory, 0x10000, 0x11000"
    assert parse_csv(text).get("factory").size == 0x11000
    with pytest.raises(ImageError, match="0x11000 is not a multiple of 0x10000 with secure boot"):
        parse_csv(text, secure=True)
    assert parse_csv("factory, app, factory, , 1M", secure=True)


def test_flash_size_and_table_offset_rules():
    with pytest.raises(ImageError, match=r"'ota_0'\): ends at 0x210000, beyond the 2MB flash"):
        parse_csv(TWO_OTA_CSV, flash_size=0x200000)
    assert parse_csv(TWO_OTA_CSV, flash_size=0x400000)
    moved = parse_csv("nvs, data, nvs, , 0x6000", table_offset=0xA000)
    assert moved.get("nvs").offset == 0xB000
    with pytest.raises(ImageError, match="0x9000 is below 0xb000"):
        parse_csv("nvs, data, nvs, 0x9000, 0x6000", table_offset=0xA000)
    with pytest.raises(ImageError, match="the table offset 0x8800 is not a multiple of 0x1000"):
        parse_csv("nvs, data, nvs, 0x10000, 0x6000", table_offset=0x8800)


def test_at_most_95_partitions_and_the_md5_row_needs_room():
    rows = "".join(f"p{index}, data, fat, , 4K\n" for index in range(95))
    table = parse_csv(rows)
    assert len(table.to_binary(md5=False)) == 0xC00
    with pytest.raises(ImageError, match="must stay below 0xc00.*leave out the MD5 row"):
        table.to_binary()
    assert len(parse_csv(rows.replace("p0,", "#")).to_binary()) == 0xC00
    with pytest.raises(ImageError, match="has 96 partitions; at most 95"):
        parse_csv(rows + "one_more, data, fat, , 4K\n")


# ------------------------------------------------------------------- binary form


def test_binary_rules_and_corruption():
    good = entry("nvs", DATA, 2, 0x9000, 0x6000)
    assert fields(parse_binary(table_binary(good))) == [("nvs", DATA, 2, 0x9000, 0x6000)]
    corrupt_md5 = bytearray(table_binary(good))
    corrupt_md5[-0xC00 + 63] ^= 1
    cases = {
        bytes(corrupt_md5): "entry 2: the MD5 row",
        good[:20]: "entry 1 is cut short at 20 of 32 bytes",
        b"\x12\x34" + good[2:]: "entry 1 starts with 1234, not the entry magic aa50",
        entry("nvs", DATA, 2, 0x9000, 0x6000, flags=0x4): "unknown flag bits 0x4",
        good[:12] + b"\xff" * 16 + good[28:]: "is not UTF-8",
        good[:12] + b"nvs\0x" + bytes(11) + good[28:]: "holds bytes after its NUL",
        table_binary(entry("app", APP, 0, 0x9000, 0x10000)): r"entry 1 \(partition 'app'\): offset",
    }
    for data, message in cases.items():
        with pytest.raises(ImageError, match=message):
            parse_binary(data, source="parts.bin")


def test_binary_table_ends_at_the_marker_and_ignores_the_signature_area():
    sector = table_binary(entry("nvs", DATA, 2, 0x9000, 0x6000)) + bytes(range(256)) * 4
    assert len(parse_binary(sector)) == 1
    assert parse_binary(b"") == PartitionTable(())
    assert parse_binary(b"\xff" * 0x1000) == PartitionTable(())
    assert is_binary_table(sector) and not is_binary_table(SINGLE_APP_CSV.encode())


# --------------------------------------------------------------- round trips

NAMES = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=16)


@st.composite
def tables(draw) -> PartitionTable:
    table_offset = draw(st.sampled_from([0x8000, 0x9000, 0xF000]))
    names = draw(st.lists(NAMES, max_size=12, unique=True))
    position = table_offset + 0x1000
    with_otadata = False
    partitions = []
    for name in names:
        ptype, subtype, size, flags = draw(partition_kinds(with_otadata))
        with_otadata |= ptype == DATA and subtype == 0
        align = 0x10000 if ptype == APP else 0x1000
        offset = -(-position // align) * align + draw(st.integers(0, 3)) * align
        partitions.append(Partition(name, ptype, subtype, offset, size, flags))
        position = offset + size
    shuffled = draw(st.permutations(partitions))  # neither form needs flash order
    return PartitionTable(tuple(shuffled), offset=table_offset)


@st.composite
def partition_kinds(draw, with_otadata: bool) -> tuple[int, int, int, tuple[str, ...]]:
    """Type, subtype, size and flags of a partition that keeps every rule."""
    kind = draw(st.sampled_from(["app", "data", "custom"]))
    encrypted = ("encrypted",) * draw(st.booleans())
    readonly = draw(st.booleans())
    if kind == "app":
        subtype = draw(st.sampled_from([0x00, 0x20, 0x30, 0x31, *range(0x10, 0x20)]))
        return APP, subtype, draw(st.integers(1, 48)) * 0x1000, encrypted
    if kind == "custom":
        ptype = draw(st.sampled_from([0x40, 0x80, 0xFE]))
        size = draw(st.integers(1, 0x40000))
        return ptype, draw(st.integers(0, 0xFE)), size, encrypted + ("readonly",) * readonly
    subtype = draw(st.integers(1 if with_otadata else 0, 0xFE))
    if subtype == 0:
        return DATA, 0, 0x2000, encrypted
    size = draw(st.integers(1, 32)) * 0x1000
    readonly = (readonly and subtype != 0x03) or (subtype == 0x02 and size < 0x3000)
    return DATA, subtype, size, encrypted + ("readonly",) * readonly


@settings(max_examples=150, deadline=None)
@given(tables(), st.booleans())
def test_binary_model_and_csv_round_trips(table, md5):
    binary = table.to_binary(md5=md5)
    assert parse_binary(binary, table_offset=table.offset) == table
    csv = table.to_csv()
    assert parse_csv(csv, table_offset=table.offset) == table
    assert parse_csv(csv, table_offset=table.offset).to_binary(md5=md5) == binary
    assert parse_binary(binary, table_offset=table.offset).to_csv() == csv


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=0x200))
def test_any_bytes_give_a_table_or_an_image_error(data):
    with contextlib.suppress(ImageError):
        parse_binary(data)


@settings(max_examples=300, deadline=None)
@given(tables(), st.randoms(use_true_random=False))
def test_damaged_tables_give_a_table_or_an_image_error(table, chance: random.Random):
    data = bytearray(table.to_binary())
    for _ in range(chance.randint(1, 4)):
        data[chance.randrange(0, 32 * (len(table) + 2))] = chance.randrange(256)
    with contextlib.suppress(ImageError):
        parse_binary(bytes(data), table_offset=table.offset)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_table_or_an_image_error(text):
    with contextlib.suppress(ImageError):
        parse_csv(text, environ={})


def test_partition_equality_ignores_where_it_came_from():
    first = Partition("nvs", DATA, 2, 0x9000, 0x6000, ("readonly", "encrypted"), origin="line 1")
    second = dataclasses.replace(first, flags=("encrypted", "readonly"), origin="entry 1")
    assert first == second and first.flags == ("encrypted", "readonly")


# ------------------------------------------------------------------ command line


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args))


def test_command_converts_csv_to_binary_and_back(tmp_path):
    csv_path, bin_path, back_path = tmp_path / "p.csv", tmp_path / "p.bin", tmp_path / "back.csv"
    csv_path.write_text(TWO_OTA_CSV)
    result = invoke("partition-table", str(csv_path), str(bin_path))
    assert result.exit_code == 0, result.output
    _, expected, rows = STANDARD_TABLES["two_ota"]
    assert bin_path.read_bytes() == table_binary(*(entry(*row) for row in expected))
    assert invoke("partition-table", str(bin_path), str(back_path)).exit_code == 0
    assert back_path.read_text() == CSV_HEADER + rows
    result = invoke("partition-table", "--disable-md5sum", str(csv_path), str(bin_path))
    assert result.exit_code == 0
    assert bin_path.read_bytes() == table_binary(*(entry(*row) for row in expected), md5=False)


def test_command_prints_the_table_and_its_free_space(tmp_path):
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("nvs, data, nvs, , 0x6000\nfactory, app, factory, , 1M, encrypted\n")
    result = invoke("partition-table", str(csv_path), "--flash-size", "2MB")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        f"Partition table at 0x8000 from {csv_path}: 2 partitions",
        "Name     Type  SubType  Offset   Size           Flags",
        "nvs      data  nvs      0x9000   0x6000 (24K)",
        "factory  app   factory  0x10000  0x100000 (1M)  encrypted",
        "Free space:",
        "  0xf000-0xffff (4K)",
        "  0x110000-0x1fffff (960K)",
    ]


def test_command_refuses_bad_tables_and_writes_nothing(tmp_path):
    csv_path, bin_path = tmp_path / "p.csv", tmp_path / "p.bin"
    csv_path.write_text("nvs, data, nvs, , 0x6000\nfactory, app, factory, 0x18000, 1M\n")
    result = invoke("partition-table", str(csv_path), str(bin_path))
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"A fatal error occurred: {csv_path}: line 2 (partition 'factory'): offset 0x18000 is "
        "not aligned to 0x10000 (app partitions)"
    )
    assert not bin_path.exists()
    csv_path.write_text(parse_csv(TWO_OTA_CSV).to_csv())  # offsets written out
    for options, message in {
        ("--flash-size", "2MB"): "beyond the 2MB flash",
        ("--offset", "0x10000"): "offset 0x9000 is below 0x11000",
    }.items():
        result = invoke("partition-table", *options, str(csv_path), str(bin_path))
        assert result.exit_code == 2 and message in result.output
        assert not bin_path.exists()


def test_command_takes_the_bootloader_offset_from_the_chip(tmp_path):
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("bootloader, bootloader, primary, , \nnvs, data, nvs, , 0x6000\n")
    for chip, offset in (("esp32", "0x1000"), ("esp32c3", "0x0")):
        result = invoke("--chip", chip, "partition-table", str(csv_path))
        assert f"bootloader  bootloader  primary  {offset}" in result.output
    assert "--primary-bootloader-offset" in invoke("partition-table", str(csv_path)).output


def test_command_needs_an_input_or_a_port(tmp_path):
    result = invoke("partition-table")
    assert result.exit_code == 2
    assert "or --port to read it from a chip" in result.output
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x80\x81\x82")
    result = invoke("partition-table", str(garbage))
    assert "is neither a binary partition table nor CSV text" in result.output
