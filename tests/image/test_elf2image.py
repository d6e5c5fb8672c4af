"""elf2image and make-image produce esptool 5.6's bytes, for every chip and option."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import fixture_files
from espforge.chips import CHIP_NAMES, all_chips, get_chip
from espforge.errors import ImageError
from espforge.image import elfwriter as ew
from espforge.image.elf2image import Elf2ImageOptions, build_images, elf2image
from espforge.image.firmware import load_image
from espforge.image.make_image import make_image

esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is not installed")
esptool_cmds = pytest.importorskip("esptool.cmds")
esptool_bin_image = pytest.importorskip("esptool.bin_image")
FatalError = pytest.importorskip("esptool.util").FatalError

pytestmark = pytest.mark.oracle

ELF_FIXTURES = fixture_files("elf", "*.elf")
ESP32_FAMILY = [name for name in CHIP_NAMES if name != "esp8266"]

# A representative spread of options; the slow test crosses all of them with every chip.
VARIANTS = {
    "defaults": Elf2ImageOptions(),
    "flash-params": Elf2ImageOptions(flash_mode="dout", flash_size="4MB"),
    "revisions": Elf2ImageOptions(min_rev=3, min_rev_full=101, max_rev_full=399),
    "no-digest": Elf2ImageOptions(append_digest=False),
    "secure-pad": Elf2ImageOptions(secure_pad=True),
    "secure-pad-v2": Elf2ImageOptions(secure_pad_v2=True),
    "elf-sha256-offset": Elf2ImageOptions(elf_sha256_offset=0x60),
    "use-segments": Elf2ImageOptions(use_segments=True),
    "mmu-32k": Elf2ImageOptions(flash_mmu_page_size=0x8000),
    "mmu-64k": Elf2ImageOptions(flash_mmu_page_size=0x10000),
    "pad-to-64k": Elf2ImageOptions(pad_to_size=0x10000),
    "pad-no-digest": Elf2ImageOptions(pad_to_size=0x1000, append_digest=False),
    "ram-only-header": Elf2ImageOptions(ram_only_header=True),
    "esp8266-v2": Elf2ImageOptions(version=2),
    "esp8266-v3": Elf2ImageOptions(version=3),
}


def size_text(size: int | None) -> str | None:
    return None if size is None else f"{size // 1024}KB"


def esptool_build(elf: bytes, chip: str, options: Elf2ImageOptions):
    """esptool's elf2image output as (irom or None, image) bytes, or the FatalError it raised."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            result = esptool_cmds.elf2image(
                elf,
                chip,
                None,
                options.flash_freq,
                options.flash_mode,
                options.flash_size,
                version=str(options.version),
                min_rev=options.min_rev,
                min_rev_full=options.min_rev_full,
                max_rev_full=options.max_rev_full,
                secure_pad=options.secure_pad,
                secure_pad_v2=options.secure_pad_v2,
                elf_sha256_offset=options.elf_sha256_offset,
                append_digest=options.append_digest,
                use_segments=options.use_segments,
                flash_mmu_page_size=size_text(options.flash_mmu_page_size),
                pad_to_size=size_text(options.pad_to_size),
                ram_only_header=options.ram_only_header,
            )
        except FatalError as exc:
            return exc
    return result if isinstance(result, tuple) else (None, result)


def expected_outcome(elf: bytes, chip: str, options: Elf2ImageOptions):
    """What espforge must give: esptool's bytes, its refusal, or (documented) a deliberate change.

    Returns None when esptool crashes on the input (no reference to compare with).
    """
    spec = get_chip(chip)
    esp32_family = spec.image_format == "esp32"
    if esp32_family and options.version != 1:
        return "refused"  # esptool silently ignores --version for these chips
    if esp32_family and options.secure_pad and not spec.secure_boot_v1:
        return "refused"  # esptool silently ignores Secure Boot v1 padding on these chips
    digest_dropped = not options.append_digest or options.ram_only_header
    if esp32_family and options.pad_to_size and digest_dropped:
        # esptool writes the 0xFF padding over the image from byte 2 on; espforge appends it.
        unpadded = esptool_build(elf, chip, replace(options, pad_to_size=None))
        if isinstance(unpadded, tuple):
            image = unpadded[1]
            return None, image + b"\xff" * (-len(image) % options.pad_to_size)
        return unpadded
    try:
        return esptool_build(elf, chip, options)
    except Exception:  # esptool crashes (AttributeError etc.) on some odd combinations
        return None


def assert_matches_esptool(elf: bytes, chip: str, options: Elf2ImageOptions) -> None:
    expected = expected_outcome(elf, chip, options)
    if expected is None:
        with contextlib.suppress(ImageError):
            build_images(elf, get_chip(chip), options)
        return
    if expected == "refused" or isinstance(expected, FatalError):
        with pytest.raises(ImageError) as caught:
            build_images(elf, get_chip(chip), options)
        assert "\n" not in str(caught.value)
        return
    outputs = build_images(elf, get_chip(chip), options)
    irom, image = expected
    if get_chip(chip).image_format == "esp8266" and options.version == 1:
        assert outputs[0] == ("0x00000.bin", image)
        assert [data for _, data in outputs[1:]] == ([] if irom is None else [irom])
    else:
        assert len(outputs) == 1
        assert outputs[0][1] == image
    # What esptool's loader reads back (it checks no chip id), espforge's does too (v3 reads
    # as v1, as esptool has it; a v2 image without irom0 reads as neither).
    try:
        esptool_bin_image.LoadFirmwareImage(chip, image)
    except Exception:
        with pytest.raises(ImageError):
            load_image(image, get_chip(chip), check_chip_id=False)
        return
    parsed = load_image(image, get_chip(chip), check_chip_id=False)
    assert parsed.checksum_valid or options.ram_only_header
    assert parsed.sha256_valid in (None, True)
    assert parsed.computed_crc32 == parsed.stored_crc32


def natural_chip(path: Path) -> str:
    return path.name.split("-")[0]


@pytest.mark.parametrize("path", ELF_FIXTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("variant", VARIANTS)
def test_fixture_elf_with_each_option_matches_esptool(path, variant):
    options = VARIANTS[variant]
    chip = natural_chip(path)
    if options.version != 1 and chip != "esp8266":
        chip = "esp8266"
    assert_matches_esptool(path.read_bytes(), chip, options)


@pytest.mark.parametrize("path", ELF_FIXTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_fixture_elf_for_every_chip_matches_esptool(path, chip):
    assert_matches_esptool(path.read_bytes(), chip, Elf2ImageOptions())


@pytest.mark.slow
@pytest.mark.parametrize("path", ELF_FIXTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("chip", CHIP_NAMES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_full_cross_product_matches_esptool(path, chip, variant):
    assert_matches_esptool(path.read_bytes(), chip, VARIANTS[variant])


@pytest.mark.slow
@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_every_flash_setting_of_every_chip_matches_esptool(chip):
    elf = esp32_style_elf()
    spec = get_chip(chip)
    for freq in [None, *spec.flash_frequencies]:
        for size in spec.flash_sizes:
            for mode in ("qio", "qout", "dio", "dout"):
                options = Elf2ImageOptions(flash_mode=mode, flash_freq=freq, flash_size=size)
                assert_matches_esptool(elf, chip, options)


# Small ELFs built in code for the cases the fixtures do not reach.


def section(name: str, address: int, size: int, fill: int = 0x5A, **kwargs) -> ew.ElfSection:
    return ew.ElfSection(name, address, bytes([fill]) * size, **kwargs)


def esp32_style_elf(
    *extra: ew.ElfSection, machine: int = ew.MACHINE_XTENSA, irom_size: int = 0x300
) -> bytes:
    sections = [
        section(".flash.rodata", 0x3F400020, 0x120, 0x11),
        section(".dram0.data", 0x3FFB0000, 0x2400, 0x22),
        section(".iram0.text", 0x40080000, 0x1800, 0x33),
        section(".flash.text", 0x400D0020, irom_size, 0x44),
        *extra,
    ]
    return ew.build_elf(machine, 0x40080400, sections)


@pytest.mark.parametrize("irom_size", [0x300, 0x10000 - 0x20 - 0x8 - 0x18, 0xFFD8 - 0x4])
@pytest.mark.parametrize("chip", ["esp32", "esp32s2", "esp32c3"])
def test_ram_data_fills_alignment_gaps_and_esp32_page_tail(chip, irom_size):
    elf = esp32_style_elf(irom_size=irom_size)
    for options in (Elf2ImageOptions(), Elf2ImageOptions(secure_pad_v2=True)):
        assert_matches_esptool(elf, chip, options)


def test_secure_pad_v1_ends_on_a_page_once_signed():
    elf = esp32_style_elf()
    assert_matches_esptool(elf, "esp32", Elf2ImageOptions(secure_pad=True))
    image = build_images(elf, get_chip("esp32"), Elf2ImageOptions(secure_pad=True))[0][1]
    assert (len(image) + 4 + 64 + 12) % 0x10000 == 0


def c6_app_elf(mmu_page_size: int, appdesc_address: int, **descriptor_fields) -> bytes:
    descriptor = ew.app_descriptor(
        project_name="demo",
        version="1.0",
        idf_version="v5.4",
        date="Jan  1 2025",
        time="00:00:00",
        mmu_page_size=mmu_page_size,
        **descriptor_fields,
    )
    sections = [
        ew.ElfSection(".flash.appdesc", appdesc_address, descriptor),
        section(".flash.rodata", appdesc_address + 0x100, 0x40, 0x66),
        section(".iram0.text", 0x40800000, 0x900, 0x77),
        section(".flash.text", 0x42040020, 0x400, 0x88),
    ]
    return ew.build_elf(ew.MACHINE_RISCV, 0x40800000, sections)


@pytest.mark.parametrize(
    ("recorded", "address"),
    [(0x8000, 0x42000020), (0x2000, 0x42000020), (0, 0x42008020), (0, 0x42004020), (0, 0x42000030)],
)
@pytest.mark.parametrize("chip", ["esp32c6", "esp32c2", "esp32h2", "esp32c3"])
def test_app_descriptor_decides_mmu_page_and_gets_elf_sha256(chip, recorded, address):
    elf = c6_app_elf(recorded, address)
    for options in (Elf2ImageOptions(), Elf2ImageOptions(use_segments=True)):
        assert_matches_esptool(elf, chip, options)


def test_app_descriptor_holds_the_elf_sha256_at_0xb0():
    elf = c6_app_elf(0, 0x42000020)
    image = build_images(elf, get_chip("esp32c6"), Elf2ImageOptions())[0][1]
    assert image[0xB0 : 0xB0 + 32] == hashlib.sha256(elf).digest()


def logged(caplog) -> list[tuple[int, str]]:
    """The (level, message) pairs elf2image logged."""
    return [
        (record.levelno, record.getMessage())
        for record in caplog.records
        if record.name.startswith("espforge.image")
    ]


def test_guessed_mmu_page_size_is_reported(caplog):
    caplog.set_level(logging.INFO, logger="espforge")
    build_images(c6_app_elf(0, 0x42008020), get_chip("esp32c6"), Elf2ImageOptions(), "a")
    assert (logging.INFO, "MMU page size not specified, set to 32 KB") in logged(caplog)


def test_misaligned_app_descriptor_is_a_warning(caplog):
    # Like esptool, it warns and then fails: the ELF SHA-256's offset no longer falls in the
    # descriptor's empty field.
    with pytest.raises(ImageError, match="Contents of segment at SHA256 digest offset"):
        build_images(c6_app_elf(0, 0x42000030), get_chip("esp32c6"), Elf2ImageOptions(), "a")
    assert (
        logging.WARNING,
        "App description segment is not aligned to MMU page size, probably linker script issue "
        "or wrong MMU page size. Try to set MMU page size parameter manually.",
    ) in logged(caplog)


def test_ram_only_header_pads_between_aligned_sections(caplog):
    elf = esp32_style_elf(
        section(".iram0.vectors", 0x40081810, 0x20, 0x99, align=16),
        section(".iram0.tail", 0x40081804, 0x4, 0x98, align=4),
        section(".dram0.bootdesc", 0x3FFC0000, 0x50, 0x97),
    )
    for chip in ("esp32", "esp32c3", "esp32p4"):
        assert_matches_esptool(elf, chip, Elf2ImageOptions(ram_only_header=True))
        assert_matches_esptool(elf, chip, Elf2ImageOptions())
    caplog.clear()
    caplog.set_level(logging.INFO, logger="espforge")
    build_images(elf, get_chip("esp32"), Elf2ImageOptions(ram_only_header=True), "x")
    assert logged(caplog) == [
        (
            logging.INFO,
            "Image has only RAM segments visible. "
            "ROM segments are hidden and SHA256 digest is not appended.",
        ),
        (logging.INFO, "NOTE: Inserting 8 bytes padding between .iram0.tail and .iram0.vectors"),
        (logging.INFO, "Merged 1 ELF section."),
    ]


def test_bootloader_descriptor_section_comes_first():
    elf = esp32_style_elf(section(".dram0.bootdesc", 0x3FFC0000, 0x50, 0x97))
    image = build_images(elf, get_chip("esp32"), Elf2ImageOptions())[0][1]
    chip = get_chip("esp32")
    ram = [s for s in load_image(image).segments if not chip.is_flash_mapped(s.load_address)]
    assert ram[0].load_address == 0x3FFC0000
    assert_matches_esptool(elf, "esp32", Elf2ImageOptions())


# In this ELF's image a 0x100-byte zero segment has its header at 0x2548, and a zero padding
# segment's data starts at 0x3E60. Like esptool, the digest must end 8 bytes before the
# segment does (it measures from the header), so 0x2630 is refused while 0x2628 is not.
@pytest.mark.parametrize("offset", [0x20, 0x130, 0x254C, 0x2550, 0x2628, 0x2630, 0x3E60])
def test_elf_sha256_offset_placement_and_refusals(offset):
    elf = esp32_style_elf(ew.ElfSection(".dram0.zeros", 0x3FFB8000, bytes(0x100)))
    options = Elf2ImageOptions(elf_sha256_offset=offset)
    assert_matches_esptool(elf, "esp32", options)
    if offset in (0x2550, 0x2628, 0x3E60):
        image = build_images(elf, get_chip("esp32"), options)[0][1]
        assert image[offset : offset + 32] == hashlib.sha256(elf).digest()


def test_sections_sharing_a_flash_page_are_refused():
    elf = esp32_style_elf(section(".flash.more", 0x400D8000, 0x40))
    assert_matches_esptool(elf, "esp32", Elf2ImageOptions())
    with pytest.raises(ImageError, match="same 64 KB flash page"):
        build_images(elf, get_chip("esp32"), Elf2ImageOptions())


def test_more_than_sixteen_segments_are_refused():
    many = [section(f".dram0.s{index}", 0x3FFC0000 + index * 0x100, 0x10) for index in range(16)]
    elf = esp32_style_elf(*many)
    assert_matches_esptool(elf, "esp32", Elf2ImageOptions())
    with pytest.raises(ImageError, match="linker script"):
        build_images(elf, get_chip("esp32"), Elf2ImageOptions())


def esp8266_elf(v3_rodata: bool = False) -> bytes:
    """An ESP8266 app; v3 images may also carry a .flash.rodata beside .irom0.text."""
    sections = [
        section(".data", 0x3FFE8000, 0x102, 0x21),
        section(".rodata", 0x3FFE8104, 0x40, 0x22),
        section(".text", 0x40100000, 0x401, 0x23),
        section(".irom0.text", 0x40210000, 0x233, 0x24),
    ]
    if v3_rodata:
        sections.append(section(".flash.rodata", 0x40220000, 0x30, 0x25))
    return ew.build_elf(ew.MACHINE_XTENSA, 0x40100004, sections)


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("extra", [{}, {"ram_only_header": True}, {"flash_size": "4MB-c1"}])
def test_esp8266_formats_match_esptool(version, extra):
    options = Elf2ImageOptions(version=version, **extra)
    assert_matches_esptool(esp8266_elf(), "esp8266", options)
    assert_matches_esptool(esp8266_elf(v3_rodata=True), "esp8266", replace(options, version=3))


def test_esp8266_v1_irom_file_is_named_by_its_flash_offset():
    outputs = build_images(esp8266_elf(), get_chip("esp8266"), Elf2ImageOptions())
    assert [name for name, _ in outputs] == ["0x00000.bin", "0x10000.bin"]
    assert outputs[1][1] == bytes([0x24]) * 0x233 + bytes(1)  # padded to 4 bytes
    v2 = build_images(esp8266_elf(), get_chip("esp8266"), Elf2ImageOptions(version=2))
    assert [name for name, _ in v2] == ["-0x10000.bin"]
    assert load_image(v2[0][1]).irom_segment.length == 0x240  # padded to 16 bytes


@pytest.mark.parametrize(
    ("chip", "options", "message"),
    [
        ("esp32", Elf2ImageOptions(version=2), "ESP8266"),
        ("esp32c3", Elf2ImageOptions(secure_pad=True), "Secure Boot v1"),
        ("esp32", Elf2ImageOptions(secure_pad=True, append_digest=False), "SHA-256"),
        ("esp32", Elf2ImageOptions(flash_size="512KB"), "flash size '512KB'"),
        ("esp32c2", Elf2ImageOptions(flash_freq="80m"), "flash frequency '80m'"),
        ("esp32", Elf2ImageOptions(flash_mode="fast"), "flash mode 'fast'"),
        ("esp32c6", Elf2ImageOptions(flash_mmu_page_size=0x1000), "4096 bytes"),
        ("esp32", Elf2ImageOptions(min_rev_full=65536), "65536"),
        ("esp32", Elf2ImageOptions(min_rev=256), "--min-rev 256"),
        ("esp8266", Elf2ImageOptions(version=4), "version 4"),
    ],
)
def test_bad_options_are_one_line_errors(chip, options, message):
    with pytest.raises(ImageError, match=message) as caught:
        build_images(esp32_style_elf(), get_chip(chip), options)
    assert "\n" not in str(caught.value)


def test_unsupported_mmu_page_size_is_a_warning_as_in_esptool(caplog):
    elf = esp32_style_elf()
    options = Elf2ImageOptions(flash_mmu_page_size=0x8000)
    build_images(elf, get_chip("esp32"), options, "x")
    assert (
        logging.WARNING,
        "Changing MMU page size is not supported on ESP32! Defaulting to 64KB.",
    ) in logged(caplog)
    assert_matches_esptool(elf, "esp32", options)


def test_use_segments_needs_program_headers():
    elf = ew.build_elf(ew.MACHINE_XTENSA, 0, [section(".dram0.data", 0x3FFB0000, 8)], segments=[])
    with pytest.raises(ImageError, match="no program headers"):
        build_images(elf, get_chip("esp32"), Elf2ImageOptions(use_segments=True))


def run_esptool_elf2image(tmp_path: Path, elf: Path, chip: str, *args: str) -> set[str]:
    before = set(tmp_path.iterdir())
    with contextlib.redirect_stdout(io.StringIO()):
        esptool.main(["--chip", chip, "elf2image", *args, str(elf)])
    return {path.name for path in set(tmp_path.iterdir()) - before}


@pytest.mark.parametrize(
    ("chip", "args", "options"),
    [
        ("esp32", [], Elf2ImageOptions()),
        ("esp8266", [], Elf2ImageOptions()),
        ("esp8266", ["--version", "2"], Elf2ImageOptions(version=2)),
        ("esp8266", ["--version", "3"], Elf2ImageOptions(version=3)),
    ],
)
def test_elf2image_writes_the_files_esptool_writes(tmp_path, chip, args, options):
    elf_bytes = esp8266_elf(options.version == 3) if chip == "esp8266" else esp32_style_elf()
    reference_dir, our_dir = tmp_path / "esptool", tmp_path / "espforge"
    reference_dir.mkdir()
    our_dir.mkdir()
    (reference_dir / "app.elf").write_bytes(elf_bytes)
    (our_dir / "app.elf").write_bytes(elf_bytes)
    expected = run_esptool_elf2image(reference_dir, reference_dir / "app.elf", chip, *args)
    written = elf2image(str(our_dir / "app.elf"), get_chip(chip), options)
    assert {Path(path).name for path in written} == expected
    for name in expected:
        assert (our_dir / name).read_bytes() == (reference_dir / name).read_bytes()


def test_elf2image_output_name_and_prefix(tmp_path):
    elf_path = tmp_path / "app.elf"
    elf_path.write_bytes(esp8266_elf())
    written = elf2image(
        str(elf_path), get_chip("esp8266"), Elf2ImageOptions(), str(tmp_path / "o-")
    )
    assert sorted(Path(path).name for path in written) == ["o-0x00000.bin", "o-0x10000.bin"]
    elf_path.write_bytes(esp32_style_elf())
    out = tmp_path / "firmware.bin"
    assert elf2image(str(elf_path), get_chip("esp32"), Elf2ImageOptions(), str(out)) == [str(out)]
    assert load_image(out.read_bytes()).chip.name == "esp32"


def test_failed_build_writes_nothing(tmp_path):
    elf_path = tmp_path / "app.elf"
    elf_path.write_bytes(esp32_style_elf(section(".flash.more", 0x400D8000, 0x40)))
    with pytest.raises(ImageError):
        elf2image(str(elf_path), get_chip("esp32"), Elf2ImageOptions())
    assert sorted(path.name for path in tmp_path.iterdir()) == ["app.elf"]


def test_every_chip_writes_its_image_chip_id():
    elf = esp32_style_elf(machine=ew.MACHINE_RISCV)
    for chip in all_chips():
        if chip.image_format == "esp32":
            image = build_images(elf, chip, Elf2ImageOptions())[0][1]
            assert load_image(image).chip == chip


def esptool_make_image(segments: list[tuple[int, bytes]], entry: int) -> dict[str, bytes]:
    """What esptool's make_image did: a v1 image class filled with the raw segments."""
    image = esptool_bin_image.ESP8266ROMFirmwareImage()
    image.segments = [esptool_bin_image.ImageSegment(addr, data) for addr, data in segments]
    image.entrypoint = entry
    irom, main = image.save(None)
    files = {"0x00000.bin": main}
    irom_segment = image.get_irom_segment()
    if irom_segment is not None:
        files[f"{irom_segment.addr - 0x40200000:#07x}.bin"] = irom
    return files


@pytest.mark.parametrize(
    "segments",
    [
        [(0x40100000, b"\x01\x02\x03\x04\x05"), (0x3FFE8000, b"\xaa" * 17)],
        [(0x40100000, b"\x10" * 64), (0x40210000, b"\x20" * 30)],
    ],
)
def test_make_image_matches_esptool(tmp_path, segments):
    files = []
    for index, (_, data) in enumerate(segments):
        path = tmp_path / f"seg{index}.bin"
        path.write_bytes(data)
        files.append(str(path))
    prefix = str(tmp_path / "out.bin")
    written = make_image(prefix, files, [address for address, _ in segments], 0x40100004)
    expected = esptool_make_image(segments, 0x40100004)
    assert {path[len(prefix) :]: Path(path).read_bytes() for path in written} == expected


def test_make_image_refuses_mismatched_arguments(tmp_path):
    with pytest.raises(ImageError, match="no segments"):
        make_image(str(tmp_path / "o"), [], [])
    with pytest.raises(ImageError, match="2 segment files but 1 addresses"):
        make_image(str(tmp_path / "o"), ["a", "b"], [0])
