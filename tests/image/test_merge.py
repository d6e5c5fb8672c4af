"""merge-bin output is byte-identical to esptool 5.6's; bad layouts are refused; Intel HEX I/O."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from intelhex import IntelHex
from test_flash_params import build_image

from conftest import fixture_path, run_espforge, run_esptool
from espforge.chips import get_chip
from espforge.errors import ImageError
from espforge.image.flash_params import flash_size_bytes
from espforge.image.intelhex_io import encode_intel_hex, read_intel_hex
from espforge.image.merge import MergeOptions, merge_bin, merge_images

FORMATS = ["raw", "hex", "uf2"]


def esptool_merge(tmp_path: Path, inputs, chip: str, fmt: str, **options) -> bytes:
    """esptool's own merge_bin, in process; `inputs` are (address, bytes or file) pairs."""
    cmds = pytest.importorskip("esptool.cmds", reason="esptool (test-only oracle) is absent")
    output = tmp_path / f"esptool-out.{fmt}"
    cmds.merge_bin(inputs, chip, str(output), format=fmt, **options)
    return output.read_bytes()


def ours(inputs, chip: str, fmt: str, **options) -> bytes:
    if isinstance(options.get("pad_to_size"), str):
        options["pad_to_size"] = flash_size_bytes(options["pad_to_size"])
    regions = [(address, data, f"input{index}") for index, (address, data) in enumerate(inputs)]
    return merge_images(regions, get_chip(chip), MergeOptions(format=fmt, **options))


def images(*name: str) -> bytes:
    return fixture_path("images", *name).read_bytes()


def typical_layout(chip: str) -> list[tuple[int, bytes]]:
    """Bootloader, partition table and an app, the way ESP-IDF lays them out."""
    spec = get_chip(chip)
    fixture = {"esp32": "bootloader_esp32_v5_2.bin", "esp32c3": "bootloader_esp32c3.bin"}
    if chip in fixture:
        bootloader = images(fixture[chip])
    else:
        with_extended_header = spec.image_format == "esp32"
        bootloader = build_image([b"\x02" * 300], with_extended_header, with_extended_header)
    return [
        (0x10000, images("fifty_kb.bin")),  # deliberately not in address order
        (spec.bootloader_flash_offset, bootloader),
        (0x8000, images("partitions_singleapp.bin")),
        (0x20003, images("not_4_byte_aligned.bin")),
    ]


CHIPS = ["esp32", "esp32c3", "esp8266", "esp32s3", "esp32p4", "esp32c2", "esp32h2"]
OPTION_SETS = {
    "defaults": {},
    "target offset": {"target_offset": 0x8000, "drop_below": 0x8000},
    "padded": {"pad_to_size": "2MB"},
    "flash params": {"flash_mode": "dio", "flash_size": "4MB", "freq_index": 0},
    "keep mode, new size": {"flash_size": "16MB"},
    "uf2 chunks": {"chunk_size": 256, "md5_disable": True},
    "uf2 no md5": {"md5_disable": True},
}


@pytest.mark.oracle
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("option_set", OPTION_SETS)
def test_matches_esptool(tmp_path: Path, chip: str, fmt: str, option_set: str) -> None:
    options = dict(OPTION_SETS[option_set])
    inputs = typical_layout(chip)
    drop_below = options.pop("drop_below", 0)
    inputs = [(address, data) for address, data in inputs if address >= drop_below]
    if "freq_index" in options:
        options["flash_freq"] = list(get_chip(chip).flash_frequencies)[options.pop("freq_index")]
    expected = esptool_merge(tmp_path, inputs, chip, fmt, **options)
    assert ours(inputs, chip, fmt, **options) == expected


def test_raw_layout_by_hand() -> None:
    merged = ours(
        [(0x3000, b"\x01\x02"), (0x1000, b"\xaa")], "esp32c3", "raw", target_offset=0x1000
    )
    assert merged == b"\xaa" + b"\xff" * 0x1FFF + b"\x01\x02"
    padded = ours([(0x0, b"\x00")], "esp32c3", "raw", pad_to_size=0x40000)
    assert padded == b"\x00" + b"\xff" * (0x40000 - 1)


def test_bootloader_gets_flash_params_in_every_format() -> None:
    bootloader = images("bootloader_esp32c3.bin")
    options = {"flash_mode": "dout", "flash_size": "8MB", "flash_freq": "80m"}
    raw = ours([(0x0, bootloader)], "esp32c3", "raw", **options)
    assert raw[2:4] == bytes([3, 0x3F])
    regions = read_intel_hex(ours([(0x0, bootloader)], "esp32c3", "hex", **options), "out.hex")
    assert regions == [(0x0, raw)]
    uf2_block = ours([(0x0, bootloader)], "esp32c3", "uf2", **options)[:512]
    assert uf2_block[32:36] == raw[:4]


def write_hex(path: Path, regions: list[tuple[int, bytes]]) -> Path:
    hex_file = IntelHex()
    for address, data in regions:
        hex_file.frombytes(data, address)
    hex_file.write_hex_file(str(path))
    return path


def esptool_hex_expansion(address: int, path: Path) -> list[tuple[int, object]]:
    """What esptool's command line turns one input argument into (HEX files split in blocks)."""
    bin_image = pytest.importorskip("esptool.bin_image")
    return bin_image.intel_hex_to_bin(open(path, "rb"), address)  # noqa: SIM115 - esptool reads it


@pytest.mark.oracle
@pytest.mark.parametrize("fmt", FORMATS)
def test_hex_inputs_match_esptool(tmp_path: Path, fmt: str) -> None:
    bootloader = images("bootloader_esp32.bin")
    hex_path = write_hex(
        tmp_path / "parts.hex",
        [(0x1000, bootloader), (0x8000, images("partitions_singleapp.bin")), (0x1FFF0, b"x" * 40)],
    )
    app_path = fixture_path("images", "fifty_kb.bin")
    inputs = [(0x0, str(hex_path)), (0x30000, str(app_path))]
    options = {"flash_mode": "dio", "flash_size": "4MB"}
    expanded = [pair for address, path in inputs for pair in esptool_hex_expansion(address, path)]
    expected = esptool_merge(tmp_path, expanded, "esp32", fmt, **options)
    output = tmp_path / f"ours.{fmt}"
    merge_bin(inputs, get_chip("esp32"), str(output), MergeOptions(format=fmt, **options))
    assert output.read_bytes() == expected


@pytest.mark.oracle
def test_command_line_oracle_with_hex_input(tmp_path: Path) -> None:
    hex_path = write_hex(tmp_path / "app.hex", [(0x10000, images("fifty_kb.bin"))])
    boot = fixture_path("images", "bootloader_esp32c3.bin")
    args = ["0x0", str(boot), "0x1000", str(hex_path)]
    result = run_esptool(
        "--chip", "esp32c3", "merge-bin", "-o", str(tmp_path / "esptool.bin"),
        "--flash-mode", "qio", "--pad-to-size", "1MB", *args,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    options = MergeOptions(flash_mode="qio", pad_to_size=0x100000)
    pairs = [(0x0, str(boot)), (0x1000, str(hex_path))]
    merge_bin(pairs, get_chip("esp32c3"), str(tmp_path / "ours.bin"), options)
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "esptool.bin").read_bytes()


def test_file_starting_with_colon_but_not_hex_is_binary(tmp_path: Path) -> None:
    path = tmp_path / "notes.hex"
    path.write_bytes(b":this is not a HEX record\n")
    output = tmp_path / "out.bin"
    merge_bin([(0x2000, str(path))], get_chip("esp32"), str(output), MergeOptions())
    assert output.read_bytes() == b"\xff" * 0x2000 + path.read_bytes()


def assert_refused(tmp_path: Path, pairs, message: str, **options) -> None:
    output = tmp_path / "out.bin"
    with pytest.raises(ImageError, match=message) as raised:
        merge_bin(pairs, get_chip("esp32"), str(output), MergeOptions(**options))
    assert "\n" not in str(raised.value)
    assert not [path for path in tmp_path.iterdir() if path.name.startswith((".out", "out"))]


@pytest.fixture
def files(tmp_path: Path):
    def make(name: str, size: int) -> str:
        path = tmp_path / name
        path.write_bytes(bytes(range(256)) * (size // 256) + bytes(size % 256))
        return str(path)

    return make


def test_overlap_is_refused(tmp_path: Path, files) -> None:
    first, second = files("a.bin", 0x2000), files("b.bin", 0x100)
    assert_refused(tmp_path, [(0x0, first), (0x1000, second)], r"b\.bin: .* overlaps .*a\.bin")


def test_inputs_sharing_a_sector_are_refused(tmp_path: Path, files) -> None:
    first, second = files("a.bin", 0x10), files("b.bin", 0x10)
    assert_refused(tmp_path, [(0x20, second), (0x0, first)], r"b\.bin: data at 0x20 overlaps")


def test_input_below_target_offset_is_refused(tmp_path: Path, files) -> None:
    pairs = [(0x1000, files("boot.bin", 0x100)), (0x8000, files("pt.bin", 0x60))]
    message = r"boot\.bin: address 0x1000 is below the output's target offset 0x8000"
    assert_refused(tmp_path, pairs, message, target_offset=0x8000)


def test_input_past_flash_size_is_refused(tmp_path: Path, files) -> None:
    pairs = [(0x1FF000, files("app.bin", 0x2000))]
    assert_refused(tmp_path, pairs, r"app\.bin: .* ends past .*--flash-size 2MB", flash_size="2MB")


def test_input_past_pad_to_size_is_refused(tmp_path: Path, files) -> None:
    pairs = [(0x3F000, files("app.bin", 0x1001))]
    assert_refused(tmp_path, pairs, r"app\.bin: .*--pad-to-size 0x40000", pad_to_size=0x40000)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path, [(0x0, str(tmp_path / "absent.bin"))], r"absent\.bin: no such file")


def test_inconsistent_hex_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.hex"
    record = ":0400000001020304F2\n"
    path.write_text(record + record + ":00000001FF\n")
    assert_refused(tmp_path, [(0x0, str(path))], r"twice\.hex: inconsistent Intel HEX")


def test_bad_options_are_refused(tmp_path: Path, files) -> None:
    pairs = [(0x0, files("a.bin", 0x10))]
    assert_refused(tmp_path, pairs, "UF2 chunk size 6 is invalid", format="uf2", chunk_size=6)
    assert_refused(tmp_path, pairs, "unknown output format 'elf'", format="elf")
    assert_refused(tmp_path, [], "no input files to merge")


@settings(max_examples=60, deadline=None)
@given(regions=st.lists(st.tuples(st.integers(0, 0x5FFFF), st.binary(max_size=300)), max_size=5))
def test_intel_hex_writer_matches_intelhex_and_round_trips(regions) -> None:
    reference = IntelHex()  # later regions overwrite earlier ones where they overlap
    for address, data in regions:
        reference.frombytes(data, address)
    single_bytes = [(address, bytes([reference[address]])) for address in reference.addresses()]
    text = io.StringIO()
    reference.write_hex_file(text)
    encoded = encode_intel_hex(single_bytes)  # touching regions are joined into records
    assert encoded == text.getvalue().encode()
    expected_blocks = [
        (start, reference.tobinstr(start=start, end=end - 1)) for start, end in reference.segments()
    ]
    assert read_intel_hex(encoded, "round-trip.hex") == expected_blocks


def test_empty_hex_output_is_just_the_end_record() -> None:
    assert encode_intel_hex([]) == b":00000001FF\n"


def best_of_three(action) -> float:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


@pytest.mark.slow
@pytest.mark.oracle
@pytest.mark.parametrize("fmt", FORMATS)
def test_four_megabyte_merge_is_no_slower_than_esptool(tmp_path: Path, fmt: str) -> None:
    cmds = pytest.importorskip("esptool.cmds", reason="esptool (test-only oracle) is absent")
    app = tmp_path / "app.bin"
    app.write_bytes(os.urandom(0x3F0000))
    boot = fixture_path("images", "bootloader_esp32c3.bin")
    pairs = [(0x0, str(boot)), (0x10000, str(app))]
    theirs, mine = tmp_path / "esptool.out", tmp_path / "ours.out"
    esptool_seconds = best_of_three(
        lambda: cmds.merge_bin(pairs, "esp32c3", str(theirs), format=fmt)
    )
    options = MergeOptions(format=fmt)
    our_seconds = best_of_three(lambda: merge_bin(pairs, get_chip("esp32c3"), str(mine), options))
    assert mine.read_bytes() == theirs.read_bytes()
    # A few ms of slack: the atomic write's temporary file and rename cost that much on their own.
    assert our_seconds <= esptool_seconds * 1.1 + 0.01


@pytest.mark.oracle
@pytest.mark.parametrize("output_format", ["raw", "hex", "uf2"])
def test_command_line_messages_match_esptool(tmp_path: Path, output_format: str) -> None:
    bootloader = fixture_path("images", "bootloader_esp32.bin")
    app = fixture_path("images", "one_kb_all_ef.bin")
    output = tmp_path / f"merged.{output_format}"
    args = ["--chip", "esp32", "merge-bin", "--format", output_format, "-o", str(output)]
    args += ["0x1000", str(bootloader), "0x10000", str(app)]
    theirs = run_esptool(*args)
    ours = run_espforge(*args)
    assert ours.returncode == theirs.returncode == 0
    # Only the first line differs: each tool names itself and its version.
    assert ours.stdout.splitlines()[1:] == theirs.stdout.splitlines()[1:]
