"""image-info against esptool 5.6's own output, plus known report values and error handling.

Oracle comparisons run esptool in-process (`esptool.main([...])` with stdout and stderr
redirected), which is much faster than a subprocess. The ONLY normalisation is dropping
esptool's first stdout line, its program banner "esptool v5.6.0": espforge's `image_info`
returns the command's report, and the banner (another program's name and version) is the
command line's business. Every other character, blank lines and trailing spaces included,
must be identical; so must stderr, except the "Error processing file" lines for HEX blocks
that are no image, which carry espforge's own wording of the problem. Where esptool refuses
the input, espforge must raise one `ImageError` line naming the file instead. Where esptool
crashes with a traceback, espforge either raises that error or, when the crash comes after
the whole report was printed (a DROM segment too short for a descriptor), prints the same text.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import fixture_files, fixture_path
from espforge.chips import CHIP_NAMES, chip_by_image_id, get_chip
from espforge.errors import ImageError
from espforge.image.elfwriter import app_descriptor, bootloader_descriptor
from espforge.image.info import describe_image, image_info, inspect_image_file

esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is not installed")

BANNER = f"esptool v{esptool.__version__}\n"
IMAGE_FIXTURES = fixture_files("images")
ELF_FIXTURES = fixture_files("elf", "*.elf")
OTHER_CHIPS = [name for name in CHIP_NAMES if name != "esp8266"]
OK, REFUSED, CRASHED = "ok", "refused", "crashed"


def run_esptool_in_process(*args: str) -> tuple[str, str, str]:
    """How esptool ended (OK, REFUSED with an error, CRASHED), its stdout and its stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    outcome = OK
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            esptool.main(list(args))
        except SystemExit as exc:
            outcome = OK if exc.code in (0, None) else REFUSED
        except esptool.FatalError:
            outcome = REFUSED
        except Exception:  # a traceback: esptool does not expect this input
            outcome = CRASHED
    return outcome, stdout.getvalue(), stderr.getvalue()


def names_another_chip(path: Path, chip: str) -> bool:
    """Whether an explicit --chip contradicts the chip id the image's extended header carries."""
    data = path.read_bytes()
    if chip == "auto" or len(data) < 24 or data[0] != 0xE9:
        return False
    spec = get_chip(chip)
    if spec.image_format == "esp32":
        return int.from_bytes(data[12:14], "little") != spec.image_chip_id
    return data[23] in (0, 1) and chip_by_image_id(data[12]) is not None


def assert_same_as_esptool(path: Path, chip: str = "auto") -> None:
    if names_another_chip(path, chip):
        # esptool prints another chip's image under the named chip's headings; espforge refuses.
        with pytest.raises(ImageError, match="is an image for") as refused:
            inspect_image_file(path, chip)
        assert str(path) in str(refused.value)
        return
    outcome, stdout, stderr = run_esptool_in_process("--chip", chip, "image-info", str(path))
    assert stdout.startswith(BANNER)
    expected = stdout.removeprefix(BANNER)
    try:
        output = inspect_image_file(path, chip)
    except ImageError as exc:
        assert outcome != OK, f"esptool reads {path.name} as {chip}, espforge says: {exc}"
        assert str(path) in str(exc)
        assert "\n" not in str(exc)
        return
    if outcome == CRASHED:
        # e.g. a DROM segment under 256 bytes makes esptool's descriptor parser raise after
        # the footer: espforge prints the same text and shows no descriptor.
        assert output.text == expected
        return
    assert outcome == OK, f"esptool refuses {path.name} as {chip}; espforge does not"
    assert output.text == expected
    if "Error processing file" not in stderr:  # those name the problem in espforge's words
        assert "".join(f"{line}\n" for line in output.stderr_lines) == stderr


def esptool_build(tmp_path: Path, elf: Path, chip: str, *options: str) -> Path:
    """The image esptool's elf2image makes (for ESP8266 v1, the file holding the RAM part)."""
    output = tmp_path / f"{elf.stem}-{chip}.bin"
    args = ["--chip", chip, "elf2image", *options, "-o", str(output), str(elf)]
    outcome, _, stderr = run_esptool_in_process(*args)
    if outcome != OK:
        pytest.skip(f"esptool does not build {elf.name} for {chip}: {stderr.strip()[-120:]}")
    if "--version" in options and options[options.index("--version") + 1] == "1":
        return tmp_path / f"{output.name}0x00000.bin"  # the irom0 part is a raw file beside it
    return output


# ---------------------------------------------------------------------------------------------
# Oracle: real fixtures, and images esptool builds from every ELF for every chip


@pytest.mark.oracle
@pytest.mark.parametrize("path", IMAGE_FIXTURES, ids=lambda path: path.name)
def test_fixture_images_match_esptool(path: Path) -> None:
    assert_same_as_esptool(path)


@pytest.mark.oracle
@pytest.mark.parametrize("chip", CHIP_NAMES)
@pytest.mark.parametrize("path", IMAGE_FIXTURES, ids=lambda path: path.name)
def test_fixture_images_read_as_every_chip_match_esptool(path: Path, chip: str) -> None:
    assert_same_as_esptool(path, chip)


BUILDS = [(elf, chip, ()) for elf in ELF_FIXTURES for chip in OTHER_CHIPS] + [
    (elf, "esp8266", ("--version", version)) for elf in ELF_FIXTURES for version in "12"
]


@pytest.mark.oracle
@pytest.mark.parametrize(
    ("elf", "chip", "options"),
    BUILDS,
    ids=lambda value: value.stem if isinstance(value, Path) else "-".join(value) or None,
)
def test_images_esptool_builds_match_esptool(
    tmp_path: Path, elf: Path, chip: str, options: tuple[str, ...]
) -> None:
    image = esptool_build(tmp_path, elf, chip, *options)
    assert_same_as_esptool(image)
    assert_same_as_esptool(image, chip)


@pytest.mark.oracle
@pytest.mark.parametrize("elf", ELF_FIXTURES, ids=lambda path: path.stem)
def test_images_read_as_every_other_chip_match_esptool(tmp_path: Path, elf: Path) -> None:
    image = esptool_build(tmp_path, elf, "esp32")
    for chip in CHIP_NAMES:
        assert_same_as_esptool(image, chip)


ELF2IMAGE_OPTIONS = {
    "mmu-page": ("esp32c6", "esp32c6-appdesc.elf", "--flash-mmu-page-size", "32KB"),
    "revisions": (
        "esp32c3",
        "esp32c6-appdesc.elf",
        *("--min-rev-full", "101", "--max-rev-full", "399", "--min-rev", "3"),
        *("--flash-mode", "dio", "--flash-size", "16MB", "--flash-freq", "20m"),
    ),
    "secure-pad": ("esp32", "esp32-app-template.elf", "--secure-pad"),
    "no-digest": ("esp32s3", "esp32-app-template.elf", "--dont-append-digest"),
    "ram-only": ("esp32", "esp32-bootloader.elf", "--ram-only-header"),
    "use-segments": ("esp32", "esp32-app-template.elf", "--use-segments"),
    "pad-to-size": ("esp32h2", "esp32c6-appdesc.elf", "--pad-to-size", "1MB"),
    "qout-128MB": (
        "esp32p4",
        "esp32-bootloader.elf",
        "--flash-mode",
        "qout",
        "--flash-size",
        "128MB",
    ),
    "esp8266-v1-dout": (
        "esp8266",
        "esp8266-nonossdkv12-example.elf",
        *(
            "--version",
            "1",
            "--flash-mode",
            "dout",
            "--flash-size",
            "4MB-c1",
            "--flash-freq",
            "80m",
        ),
    ),
}


@pytest.mark.oracle
@pytest.mark.parametrize("case", ELF2IMAGE_OPTIONS)
def test_elf2image_options_match_esptool(tmp_path: Path, case: str) -> None:
    chip, elf_name, *options = ELF2IMAGE_OPTIONS[case]
    image = esptool_build(tmp_path, fixture_path("elf", elf_name), chip, *options)
    assert_same_as_esptool(image)


def corrupted(tmp_path: Path, source: Path, name: str, patches: dict[int, int]) -> Path:
    """A copy of `source` with the byte at each offset replaced by the value given for it."""
    data = bytearray(source.read_bytes())
    for offset, value in patches.items():
        data[offset] = value
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


@pytest.mark.oracle
def test_damaged_images_match_esptool(tmp_path: Path) -> None:
    app = esptool_build(tmp_path, fixture_path("elf", "esp32c6-appdesc.elf"), "esp32c3")
    v2 = esptool_build(
        tmp_path,
        fixture_path("elf", "esp8266-nonosssdk20-iotdemo.elf"),
        "esp8266",
        "--version",
        "2",
    )
    data = app.read_bytes()
    damaged = [
        corrupted(tmp_path, app, "segment.bin", {40: data[40] ^ 0x55}),  # checksum and hash fail
        corrupted(tmp_path, app, "hash.bin", {len(data) - 1: data[-1] ^ 1}),  # stored hash only
        # flash mode 7, size code 0xF and frequency code 5 mean nothing: stderr warnings only
        corrupted(tmp_path, app, "flash.bin", {2: 7, 3: 0xF5}),
        corrupted(tmp_path, v2, "v2.bin", {40: v2.read_bytes()[40] ^ 0x55}),
    ]
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(data[:-10])  # cut inside the appended SHA-256
    for path in [*damaged, truncated]:
        assert_same_as_esptool(path)
        assert_same_as_esptool(path, "esp32c3")


@pytest.mark.oracle
def test_intel_hex_files_match_esptool(tmp_path: Path) -> None:
    bootloader = fixture_path("images", "bootloader_esp32.bin")
    partitions = fixture_path("images", "partitions_singleapp.bin")
    app = esptool_build(tmp_path, fixture_path("elf", "esp32-app-template.elf"), "esp32")
    layouts = {
        "merged.hex": [("0x1000", bootloader), ("0x8000", partitions), ("0x10000", app)],
        "single.hex": [("0x1000", bootloader)],
        "partition-first.hex": [("0x8000", partitions), ("0x10000", app)],
    }
    for name, layout in layouts.items():
        pairs = [str(value) for pair in layout for value in pair]
        args = ["--chip", "esp32", "merge-bin", "--format", "hex", "-o", str(tmp_path / name)]
        assert run_esptool_in_process(*args, *pairs)[0] == OK
        assert_same_as_esptool(tmp_path / name)
        assert_same_as_esptool(tmp_path / name, "esp32")
    not_hex = tmp_path / "colon.bin"
    not_hex.write_bytes(b":this starts like Intel HEX but is not\n")
    assert_same_as_esptool(not_hex)


# ---------------------------------------------------------------------------------------------
# Hand-built images: descriptor strings that stress the text rendering, chip-id quirks


def build_image(segments: list[tuple[int, bytes]], chip_id: int = 5, digest: bool = True) -> bytes:
    """A minimal ESP32-family image (default: ESP32-C3) holding `segments`."""
    header = struct.pack("<BBBBI", 0xE9, len(segments), 2, 0x10, 0x40380000)
    extended = struct.pack("<BBBBHBHH4sB", 0xEE, 0, 0, 0, chip_id, 0, 0, 0, bytes(4), digest)
    body = b"".join(struct.pack("<II", address, len(data)) + data for address, data in segments)
    image = header + extended + body
    checksum = 0xEF
    for _, data in segments:
        for value in data:
            checksum ^= value
    image += bytes(15 - len(image) % 16) + bytes([checksum])
    return image + hashlib.sha256(image).digest() if digest else image


C3_DROM = 0x3C000020
C3_DRAM = 0x3FC88000


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# Each example runs esptool once (a few ms); its file is rewritten in the test's tmp_path.
ORACLE_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Characters the console handles specially (tabs, dropped controls, markup brackets and
# backslashes), wide and combining characters, and ordinary text.
TRICKY_CHARACTERS = list("\t\r\x07\x08\x0b\x0c\x1b\x7f\\[]/@#=abz :.-_09中é\u0301\u0903\U00030000")


def tricky_text(field_size: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(TRICKY_CHARACTERS), max_size=field_size).filter(
        lambda text: len(text.encode()) <= field_size
    )


@pytest.mark.oracle
@settings(ORACLE_SETTINGS, max_examples=60)
@given(
    project=tricky_text(32),
    version=tricky_text(32),
    idf=tricky_text(32),
    date=tricky_text(16),
    time=tricky_text(16),
)
def test_app_descriptor_text_matches_esptool(tmp_path, project, version, idf, date, time):
    descriptor = app_descriptor(
        project_name=project, version=version, idf_version=idf, date=date, time=time
    )
    path = write(tmp_path, "app.bin", build_image([(C3_DROM, descriptor)]))
    # A date ending in "[/" and a time holding "]" join into a closing markup tag with nothing
    # to close on the "Compile time" line: esptool's console raises there, mid-output.
    assume(run_esptool_in_process("image-info", str(path))[0] != CRASHED)
    assert_same_as_esptool(path)


@pytest.mark.oracle
@settings(ORACLE_SETTINGS, max_examples=40)
@given(version=st.integers(0, 2**32 - 1), idf=tricky_text(32), date_time=tricky_text(24))
def test_bootloader_descriptor_text_matches_esptool(tmp_path, version, idf, date_time):
    descriptor = bootloader_descriptor(version=version, idf_version=idf, date_time=date_time)
    path = write(tmp_path, "boot.bin", build_image([(C3_DRAM, descriptor)]))
    assert_same_as_esptool(path)


@pytest.mark.oracle
def test_descriptor_search_follows_esptool(tmp_path: Path) -> None:
    boot = bootloader_descriptor(version=3, idf_version="v5.4", date_time="today")
    app = app_descriptor(project_name="p", version="1", idf_version="v5.4", date="d", time="t")
    layouts = {
        # the last DRAM segment of 80 bytes or more is the one searched
        "last-dram.bin": [(C3_DRAM, boot), (C3_DRAM + 0x1000, bytes(80))],
        "first-dram.bin": [(C3_DRAM + 0x1000, bytes(80)), (C3_DRAM, boot)],
        "short-dram.bin": [(C3_DRAM, boot), (C3_DRAM + 0x1000, bytes(76))],
        # any DROM data rules out a bootloader descriptor, even without an app descriptor
        "drom-wins.bin": [(C3_DROM, bytes(256)), (C3_DRAM, boot)],
        "both.bin": [(C3_DRAM, boot), (C3_DROM, app)],
        "empty-drom.bin": [(C3_DROM, b""), (C3_DRAM, boot)],
        "unaligned.bin": [(C3_DROM, app[:-3])],  # esptool pads to 4 bytes: 253 -> 256
    }
    for name, segments in layouts.items():
        assert_same_as_esptool(write(tmp_path, name, build_image(segments)))


@pytest.mark.oracle
def test_chip_id_quirks_match_esptool(tmp_path: Path) -> None:
    # Detection reads only the low byte of the 16-bit chip id; the header line shows all 16 bits.
    wide_id = write(tmp_path, "wide.bin", build_image([(C3_DRAM, bytes(8))], chip_id=0x0105))
    assert_same_as_esptool(wide_id)
    assert "Chip ID: 261 (Unknown ID)" in image_info(wide_id)
    # An id no chip has: auto-detection falls back to ESP8266 (and fails), a named chip refuses.
    unknown = write(tmp_path, "unknown.bin", build_image([(C3_DRAM, bytes(8))], chip_id=0x63))
    assert_same_as_esptool(unknown)
    with pytest.raises(ImageError, match=r"unknown\.bin: is an image for an unknown chip"):
        image_info(unknown, "esp32c3")


# ---------------------------------------------------------------------------------------------
# The report as data


def test_report_of_an_idf_bootloader() -> None:
    path = fixture_path("images", "bootloader_esp32_v5_2.bin")
    report = describe_image(path.read_bytes(), source=str(path))
    assert report.chip == get_chip("esp32")
    assert report.chip_detected
    assert report.image_size == 26768
    assert report.entry_point == 0x40080650
    assert (report.flash_mode_name, report.flash_size_name, report.flash_freq_name) == (
        "dout",
        "2MB",
        "40m",
    )
    header = report.extended_header
    assert header is not None
    assert (header.wp_pin, header.chip_id, header.max_rev_full) == (0xEE, 0, 399)
    assert [(s.length, s.load_address, s.file_offset) for s in report.segments] == [
        (0x1BDC, 0x3FFF0030, 0x18),
        (0x3D20, 0x40078000, 0x1BFC),
        (0x4, 0x40080400, 0x5924),
        (0xF2C, 0x40080404, 0x5930),
    ]
    assert report.segments[0].memory_types == ("BYTE_ACCESSIBLE", "DRAM", "DIRAM_DRAM")
    assert report.checksum_valid
    assert report.stored_checksum == 0xBE
    assert report.sha256_valid
    assert report.computed_sha256.hex().startswith("10cec8cf739f34fb")
    assert report.app_descriptor is None
    boot = report.bootloader_descriptor
    assert (boot.version, boot.idf_version, boot.date_time) == (
        1,
        "v5.2-dev-254-g1950b15",
        "Apr 25 2023 00:13:32",
    )
    assert report.warnings == ()


def test_report_of_an_idf_application(tmp_path: Path) -> None:
    image = esptool_build(tmp_path, fixture_path("elf", "esp32-app-template.elf"), "esp32")
    report = describe_image(image.read_bytes())
    app = report.app_descriptor
    assert app is not None
    assert (app.project_name, app.version, app.idf_version) == (
        "app-template",
        "1cd5752",
        "v4.0-dev-30-g31ca6e399",
    )
    assert (app.compile_date, app.compile_time, app.secure_version) == (
        "Mar 18 2019",
        "10:47:33",
        0,
    )
    assert report.bootloader_descriptor is None
    assert report.entry_point == 0x4008167C
    text = image_info(image)
    assert "Project name: app-template\n" in text
    assert "Entry point: 0x4008167c\n" in text


def test_report_of_an_esp8266_v2_image(tmp_path: Path) -> None:
    elf = fixture_path("elf", "esp8266-nonosssdk20-iotdemo.elf")
    image = esptool_build(tmp_path, elf, "esp8266", "--version", "2")
    report = describe_image(image.read_bytes())
    assert report.chip.name == "esp8266"
    assert report.image_version == 2
    assert report.extended_header is None
    irom = report.segments[0]
    assert (irom.load_address, irom.in_checksum, irom.memory_types) == (0, False, ())
    assert report.esp8266_v2 is not None
    assert report.esp8266_v2.irom_length == irom.length
    assert report.esp8266_v2.crc32_valid
    assert report.checksum_valid
    assert report.computed_sha256 is None


def test_explicit_chip_and_auto_differ_only_in_the_detected_line() -> None:
    path = fixture_path("images", "bootloader_esp32c3.bin")
    auto = image_info(path)
    explicit = image_info(path, "esp32c3")
    assert auto.replace("Detected image type: ESP32-C3\n", "") == explicit
    assert describe_image(path.read_bytes(), "esp32c3").chip_detected is False


def test_a_named_chip_must_match_the_image() -> None:
    path = fixture_path("images", "bootloader_esp32c3.bin")
    with pytest.raises(ImageError, match=r"is an image for ESP32-C3 \(chip id 5\), not ESP32-S3:"):
        describe_image(path.read_bytes(), "esp32s3")
    with pytest.raises(ImageError, match=r"bootloader_esp32c3\.bin: is an image for ESP32-C3"):
        image_info(path, "ESP32-S3")
    with pytest.raises(ImageError, match=r"is an image for ESP32-C3, not ESP8266"):
        image_info(path, "esp8266")


def test_unknown_flash_codes_are_warnings_not_lines(tmp_path: Path) -> None:
    data = bytearray(fixture_path("images", "bootloader_esp32c3.bin").read_bytes())
    data[2], data[3] = 7, 0xF5
    output = inspect_image_file(write(tmp_path, "odd.bin", bytes(data)))
    assert output.stderr_lines == (
        "WARNING: Invalid flash size (0xf0)",
        "WARNING: Invalid flash frequency (0x5)",
        "WARNING: Invalid flash mode (7)",
    )
    assert "Flash size" not in output.text
    assert "Flash mode" not in output.text


# ---------------------------------------------------------------------------------------------
# Bad input: one ImageError line naming the file


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nothing\.bin: no such file"):
        image_info(tmp_path / "nothing.bin")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a directory"):
        image_info(tmp_path)


def test_not_an_image() -> None:
    path = fixture_path("images", "partitions_singleapp.bin")
    with pytest.raises(
        ImageError,
        match=r"partitions_singleapp\.bin: This is not a valid image "
        r"\(invalid magic number: 0xaa\)\.",
    ):
        image_info(path)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"empty\.bin: Image is empty\."):
        image_info(write(tmp_path, "empty.bin", b""))


def test_truncated_image(tmp_path: Path) -> None:
    data = fixture_path("images", "bootloader_esp32c3.bin").read_bytes()
    with pytest.raises(ImageError, match=r"cut\.bin: ends inside segment"):
        image_info(write(tmp_path, "cut.bin", data[:1000]))


def test_wrong_chip_names_the_likely_one() -> None:
    path = fixture_path("images", "bootloader_esp8266.bin")
    with pytest.raises(
        ImageError, match=r"bootloader_esp8266\.bin: is an image for ESP8266, not ESP32:"
    ):
        image_info(path, "esp32")


def test_unknown_chip_name() -> None:
    path = fixture_path("images", "bootloader_esp32.bin")
    with pytest.raises(ImageError, match="unknown chip 'esp99'"):
        image_info(path, "esp99")


def test_descriptor_that_is_not_utf8(tmp_path: Path) -> None:
    descriptor = bytearray(
        app_descriptor(project_name="p", version="1", idf_version="v", date="d", time="t")
    )
    descriptor[48] = 0xFF  # first byte of the project name
    path = write(tmp_path, "bad-name.bin", build_image([(C3_DROM, bytes(descriptor))]))
    with pytest.raises(ImageError, match=r"bad-name\.bin: .*project name field is not valid UTF-8"):
        image_info(path)
