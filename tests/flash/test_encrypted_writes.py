"""Encrypted flash writes on both sides of the wire.

The virtual chip encrypts what an encrypted write sends with the key in its eFuses (burnt here by
the stock espefuse 5.6 in --virt mode on the chip's eFuse file). The stock esptool 5.6 and
espforge's own client write with --encrypt / --encrypt-files; the flash must then hold what the
stock espsecure's encrypt-flash-data makes of the same plaintext at the same address, and
espforge's refusals must read as esptool's.
"""

from __future__ import annotations

import contextlib
import io
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner

from conftest import esptool_stub_dir, fixture_path
from espforge.chips import get_chip
from espforge.cli.main import build_cli
from espforge.link.slip import SlipDecoder, slip_encode
from espforge.protocol.commands import Opcode, checksum, encode_command
from espforge.virtual.chip import ChipOptions, VirtualChip
from espforge.virtual.transports import TcpServer

pytestmark = pytest.mark.oracle
esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")
espefuse = pytest.importorskip("espefuse", reason="espefuse (test-only oracle) is absent")
espsecure = pytest.importorskip("espsecure", reason="espsecure (test-only oracle) is absent")
STUB_DIR = esptool_stub_dir()

KEY = bytes(range(0x40, 0x60))  # 256 bits: two different AES-XTS halves, or one ESP32 key
APP_ADDRESS = 0x10000


# ------------------------------------------------------------------ set-up


def burn_flash_key(chip: str, efuse_file: Path, key_file: Path) -> None:
    """The key burnt readable (the virtual eFuse file keeps no read-protected bits), as a
    developer's flash encryption key: ESP32 BLOCK1 with FLASH_CRYPT_CONFIG 0xF, else an
    XTS_AES_128_KEY block (a 512-bit key: the two XTS_AES_256_KEY blocks)."""
    base = ["--chip", chip, "--virt", "--path-efuse-file", str(efuse_file), "--do-not-confirm"]
    if chip == "esp32":
        commands = [
            ["burn-key", "flash_encryption", str(key_file), "--no-protect-key"],
            ["burn-efuse", "FLASH_CRYPT_CONFIG", "0xF"],
        ]
    else:
        purpose = "XTS_AES_256_KEY" if key_file.stat().st_size == 64 else "XTS_AES_128_KEY"
        commands = [["burn-key", "BLOCK_KEY0", str(key_file), purpose, "--no-read-protect"]]
    for command in commands:
        with contextlib.redirect_stdout(io.StringIO()):
            espefuse.main([*base, *command])


class Bench:
    """A virtual chip with flash and eFuse files, served over TCP while in use."""

    def __init__(self, chip: str, tmp_path: Path, key: bytes | None = KEY) -> None:
        self.chip = chip
        self.secure_download = False
        self.tmp_path = tmp_path
        self.flash_file = tmp_path / "flash.bin"
        self.efuse_file = tmp_path / "efuse.bin"
        if key is not None:
            key_file = tmp_path / "key.bin"
            key_file.write_bytes(key)
            burn_flash_key(chip, self.efuse_file, key_file)

    @contextlib.contextmanager
    def port(self) -> Iterator[str]:
        virtual = VirtualChip.create(
            self.chip,
            flash_file=str(self.flash_file),
            options=ChipOptions(
                efuse_file=str(self.efuse_file), secure_download=self.secure_download
            ),
        )
        try:
            with TcpServer(virtual) as server:
                yield server.port
        finally:
            virtual.close()

    def file(self, name: str, data: bytes) -> str:
        path = self.tmp_path / name
        path.write_bytes(data)
        return str(path)

    def flash(self, address: int, size: int) -> bytes:
        return self.flash_file.read_bytes()[address : address + size]

    def esptool(self, *args: str, stub: bool = True) -> str:
        """The stock esptool's output, warnings and fatal error included."""
        if "espforge.virtual" not in serial.protocol_handler_packages:
            serial.protocol_handler_packages.append("espforge.virtual")
        buffer = io.StringIO()
        loader = [] if stub else ["--no-stub"]
        output = contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer)
        with self.port() as port, output[0], output[1]:
            command = ["--chip", self.chip, "--port", port, "--before", "no-reset", *loader]
            try:
                esptool.main([*command, *args])
            except esptool.FatalError as error:
                print(f"A fatal error occurred: {error}")
        return buffer.getvalue()

    def espforge(self, *args: str, stub: bool = True):
        loader = ["--stub-dir", str(STUB_DIR)] if stub else ["--no-stub"]
        with self.port() as port:
            command = ["--chip", self.chip, "--port", port, "--before", "no-reset", *loader]
            return CliRunner().invoke(build_cli(), [*command, *args])


def payload(size: int = 40000, seed: int = 1) -> bytes:
    """Half random, half zeros (so compressed writes have something to gain), odd-sized."""
    random_part = random.Random(seed).randbytes(size // 2)
    return random_part + bytes(size - len(random_part) - 3) + b"end"


def espsecure_encrypt(chip: str, key: bytes, data: bytes, address: int, conf: int = 0xF) -> bytes:
    """What the stock espsecure's encrypt-flash-data makes of `data`, padded as esptool pads
    an encrypted file (0xFF to the chip's encrypted-write alignment)."""
    align = get_chip(chip).flash_encrypted_write_align
    data += b"\xff" * (-len(data) % align)
    named = []
    for content, name in ((key, "key.bin"), (data, "input.bin"), (b"", "output.bin")):
        handle = io.BytesIO(content)
        handle.name = name
        named.append(handle)
    key_file, input_file, output = named
    espsecure.encrypt_flash_data(key_file, output, address, conf, chip != "esp32", input_file)
    return output.getvalue()


def assert_encrypted_at(bench: Bench, address: int, plain: bytes, key: bytes = KEY, conf=0xF):
    expected = espsecure_encrypt(bench.chip, key, plain, address, conf)
    assert bench.flash(address, len(expected)) == expected


CANNOT_VERIFY = "Cannot verify written data if encrypted or in secure download mode."
CANNOT_WRITE = (
    "Can't perform encrypted flash write, consult Flash Encryption documentation for more "
    "information."
)
KEY_MISSING = "Flash encryption key is not programmed."


# ------------------------------------------------------------------ the virtual chip


def stock_esptool_writes_encrypted(chip: str, tmp_path: Path, key: bytes = KEY) -> None:
    bench = Bench(chip, tmp_path, key)
    plain = payload()
    source = bench.file("app.bin", plain)
    # Compressed (esptool's default with its stub), then sent as it is.
    output = bench.esptool("write-flash", "--encrypt", hex(APP_ADDRESS), source)
    assert "compressed" in output and CANNOT_VERIFY in output
    output = bench.esptool("write-flash", "-u", "--encrypt", "0x40000", source)
    assert "compressed" not in output and CANNOT_VERIFY in output
    assert_encrypted_at(bench, APP_ADDRESS, plain, key)
    assert_encrypted_at(bench, 0x40000, plain, key)


@pytest.mark.parametrize("chip", ["esp32", "esp32c3"])
def test_stock_esptool_encrypted_write_holds_espsecures_ciphertext(chip, tmp_path) -> None:
    stock_esptool_writes_encrypted(chip, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("key_bits", [256, 512])
def test_stock_esptool_encrypted_write_on_the_esp32s3(key_bits, tmp_path) -> None:
    stock_esptool_writes_encrypted("esp32s3", tmp_path, bytes(range(key_bits // 8)))


def test_a_rom_that_takes_the_encrypt_word_encrypts_too(tmp_path) -> None:
    bench = Bench("esp32c3", tmp_path)
    plain = payload(5000)
    output = bench.esptool(
        "write-flash", "--encrypt", "0x8000", bench.file("a.bin", plain), stub=False
    )
    assert CANNOT_VERIFY in output
    assert_encrypted_at(bench, 0x8000, plain)


@pytest.mark.parametrize(
    ("chip", "encrypted_name"),
    [("esp32", "bootloader-encrypted.bin"), ("esp32c3", "bootloader-encrypted-aes-xts.bin")],
)
def test_the_chip_makes_the_fixtures_encrypted_bootloader(chip, encrypted_name, tmp_path):
    key = fixture_path("secure", "256bit_key.bin").read_bytes()
    plain = fixture_path("secure", "bootloader.bin")
    expected = fixture_path("secure", encrypted_name).read_bytes()
    bench = Bench(chip, tmp_path, key)
    bench.esptool("write-flash", "--encrypt", "0x1000", str(plain))
    assert bench.flash(0x1000, len(expected)) == expected


def test_blank_esp32_efuses_stop_esptool_unless_ignored(tmp_path) -> None:
    """What esptool's hardware tests expect of a blank ESP32: refused, then written with
    --ignore-flash-enc-efuse under the all-zero BLOCK1 key and FLASH_CRYPT_CONFIG 0."""
    bench = Bench("esp32", tmp_path, key=None)
    plain = payload(3000)
    source = bench.file("app.bin", plain)
    output = bench.esptool("write-flash", "--encrypt", hex(APP_ADDRESS), source)
    assert "Unexpected FLASH_CRYPT_CONFIG value: 0x0" in output and KEY_MISSING in output
    assert CANNOT_WRITE in output
    assert bench.flash(APP_ADDRESS, 16) == b"\xff" * 16
    bench.esptool("write-flash", "--encrypt", "--ignore-flash-enc-efuse", hex(APP_ADDRESS), source)
    assert_encrypted_at(bench, APP_ADDRESS, plain, key=bytes(32), conf=0)


class RawStub:
    """Commands sent one by one to a virtual chip that runs the (pretend) flasher stub."""

    def __init__(self, bench: Bench) -> None:
        self.decoder = SlipDecoder()
        self.chip = VirtualChip.create(
            bench.chip,
            flash_file=str(bench.flash_file),
            options=ChipOptions(efuse_file=str(bench.efuse_file)),
        )
        self.chip.read()
        dram = next(r for r in self.chip.chip.memory_map if r.name == "DRAM").start + 0x1000
        code = bytes(64)
        self.command(Opcode.MEM_BEGIN, struct.pack("<IIII", 64, 1, 0x1800, dram))
        self.command(Opcode.MEM_DATA, struct.pack("<IIII", 64, 0, 0, 0) + code, checksum(code))
        self.send(Opcode.MEM_END, struct.pack("<II", 0, dram))
        assert self.decoder.feed(self.chip.read())[-1] == b"OHAI"

    def send(self, opcode: int, data: bytes, check: int = 0) -> None:
        self.chip.receive(slip_encode(encode_command(opcode, data, check)))

    def command(self, opcode: int, data: bytes, check: int = 0) -> tuple[int, int]:
        """The status bytes of the answer."""
        self.send(opcode, data, check)
        (frame,) = self.decoder.feed(self.chip.read())
        return frame[-2], frame[-1]

    def block(self, opcode: int, data: bytes, seq: int) -> tuple[int, int]:
        header = struct.pack("<IIII", len(data), seq, 0, 0)
        return self.command(opcode, header + data, checksum(data))


def test_older_stubs_flash_encrypt_data_command_encrypts_the_block(tmp_path) -> None:
    bench = Bench("esp32", tmp_path)
    plain = payload(0x400)
    stub = RawStub(bench)
    assert stub.command(Opcode.FLASH_BEGIN, struct.pack("<IIII", 0x400, 1, 0x400, 0x9000)) == (0, 0)
    assert stub.block(Opcode.FLASH_ENCRYPT_DATA, plain, 0) == (0, 0)
    assert stub.command(Opcode.FLASH_END, struct.pack("<I", 1)) == (0, 0)
    stub.chip.close()
    assert_encrypted_at(bench, 0x9000, plain)


@pytest.mark.parametrize(
    ("chip", "size", "refused"),
    [
        ("esp32c3", 0x400, False),
        ("esp32c3", 0x3F0, False),
        ("esp32c3", 0x3F8, True),
        ("esp32", 0x3F0, True),
    ],
)
def test_the_chip_refuses_encrypted_writes_off_its_alignment(chip, size, refused, tmp_path):
    stub = RawStub(Bench(chip, tmp_path))
    begin = struct.pack("<5I", size, 1, 0x400, 0x9000, 1)
    status = stub.command(Opcode.FLASH_BEGIN, begin)
    stub.chip.close()
    assert (status != (0, 0)) is refused


# ------------------------------------------------------------------ espforge's client


def espforge_output(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.mark.parametrize("chip", ["esp32", "esp32c3"])
def test_espforge_encrypted_write_holds_espsecures_ciphertext(chip, tmp_path) -> None:
    bench = Bench(chip, tmp_path)
    plain = payload()
    source = bench.file("app.bin", plain)
    output = espforge_output(bench.espforge("write-flash", "--encrypt", hex(APP_ADDRESS), source))
    assert "compressed" in output and CANNOT_VERIFY in output
    output = espforge_output(bench.espforge("write-flash", "-u", "--encrypt", "0x40000", source))
    assert "compressed" not in output and CANNOT_VERIFY in output
    assert_encrypted_at(bench, APP_ADDRESS, plain)
    assert_encrypted_at(bench, 0x40000, plain)


def test_espforge_encrypts_through_a_rom_that_takes_the_encrypt_word(tmp_path) -> None:
    bench = Bench("esp32c3", tmp_path)
    plain = payload(5000)
    result = bench.espforge(
        "write-flash", "--encrypt", "0x8000", bench.file("a.bin", plain), stub=False
    )
    assert CANNOT_VERIFY in espforge_output(result)
    assert_encrypted_at(bench, 0x8000, plain)


def test_encrypt_files_mix_with_plain_files(tmp_path) -> None:
    bench = Bench("esp32c3", tmp_path)
    plain_app, secret = payload(30000, seed=2), payload(9000, seed=3)
    result = bench.espforge(
        "write-flash",
        "0x40000",
        bench.file("plain.bin", plain_app),
        "--encrypt-files",
        hex(APP_ADDRESS),
        bench.file("secret.bin", secret),
    )
    output = espforge_output(result)
    # In address order, as esptool writes them: the encrypted file first, then the plain one.
    writing = [line for line in output.splitlines() if line.startswith("Writing '")]
    assert [line.split("/")[-1] for line in writing] == [
        "secret.bin' at 0x00010000...",
        "plain.bin' at 0x00040000...",
    ]
    assert output.count(CANNOT_VERIFY) == 1 and output.count("Hash of data verified.") == 1
    assert_encrypted_at(bench, APP_ADDRESS, secret)
    assert bench.flash(0x40000, len(plain_app)) == plain_app


def error_line(result) -> str:
    """The one line espforge ends a refused command with (no traceback)."""
    assert result.exit_code != 0 and "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


@pytest.mark.parametrize("chip", ["esp32", "esp32c3"])
def test_blank_efuses_are_refused_in_esptools_words(chip, tmp_path) -> None:
    bench = Bench(chip, tmp_path, key=None)
    source = bench.file("app.bin", payload(3000))
    expected = bench.esptool("write-flash", "--encrypt", hex(APP_ADDRESS), source)
    result = bench.espforge("write-flash", "--encrypt", hex(APP_ADDRESS), source)
    esptool_lines = [KEY_MISSING, "Unexpected FLASH_CRYPT_CONFIG value: 0x0"]
    for line in esptool_lines:
        assert (line in result.output) == (line in expected)
    assert KEY_MISSING in result.output
    assert CANNOT_WRITE in expected and error_line(result).endswith(CANNOT_WRITE)
    assert bench.flash(APP_ADDRESS, 16) == b"\xff" * 16


def test_espforge_ignoring_blank_esp32_efuses_encrypts_with_the_zero_key(tmp_path) -> None:
    bench = Bench("esp32", tmp_path, key=None)
    plain = payload(3000)
    source = bench.file("app.bin", plain)
    result = bench.espforge(
        "write-flash", "--encrypt", "--ignore-flash-enc-efuse", hex(APP_ADDRESS), source
    )
    assert KEY_MISSING in espforge_output(result)
    assert_encrypted_at(bench, APP_ADDRESS, plain, key=bytes(32), conf=0)


def test_a_misaligned_encrypted_file_is_refused_as_esptool_refuses_it(tmp_path) -> None:
    bench = Bench("esp32c3", tmp_path)
    source = bench.file("app.bin", payload(3000))
    warning = f"'{source}' (address 0x10008) is not 16 byte aligned, can't flash encrypted."
    expected = bench.esptool("write-flash", "--encrypt", "0x10008", source)
    result = bench.espforge("write-flash", "--encrypt", "0x10008", source)
    assert warning in expected and warning in result.output
    assert error_line(result).endswith(CANNOT_WRITE)
    # esptool 5.6 checks the positional files' alignment even for --encrypt-files (and its stub
    # then fails the write); espforge checks the files it is to encrypt.
    plain = bench.file("plain.bin", b"plain")
    result = bench.espforge("write-flash", "0x40000", plain, "--encrypt-files", "0x10008", source)
    assert warning in result.output and error_line(result).endswith(CANNOT_WRITE)


def test_production_mode_efuses_refuse_encrypted_downloads_in_esptools_words(tmp_path) -> None:
    bench = Bench("esp32c3", tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        espefuse.main(
            ["--chip", "esp32c3", "--virt", "--path-efuse-file", str(bench.efuse_file)]
            + ["--do-not-confirm", "burn-efuse", "DIS_DOWNLOAD_MANUAL_ENCRYPT"]
        )
    source = bench.file("app.bin", payload(3000))
    expected = bench.esptool("write-flash", "--encrypt", hex(APP_ADDRESS), source)
    message = " ".join(expected.split("A fatal error occurred: ", 1)[1].split())
    assert message.startswith("This chip has encrypt functionality in UART download mode disabled.")
    result = bench.espforge("write-flash", "--encrypt", hex(APP_ADDRESS), source)
    assert error_line(result) and message in " ".join(result.output.split())


@pytest.mark.parametrize(
    "chip, fields",
    [
        ("esp32c3", ["SPI_BOOT_CRYPT_CNT", "1", "DIS_DOWNLOAD_MANUAL_ENCRYPT", "1"]),
        ("esp32", ["FLASH_CRYPT_CNT", "1", "DISABLE_DL_ENCRYPT", "1"]),
    ],
)
def test_production_mode_efuses_refuse_plaintext_in_esptools_words(chip, fields, tmp_path):
    bench = Bench(chip, tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        espefuse.main(
            ["--chip", chip, "--virt", "--path-efuse-file", str(bench.efuse_file)]
            + ["--do-not-confirm", "burn-efuse", *fields]
        )
    data = payload(3000)
    source = bench.file("app.bin", data)
    expected = bench.esptool("write-flash", hex(APP_ADDRESS), source)
    first_line = expected.split("A fatal error occurred: ", 1)[1].splitlines()[0]
    assert first_line == "Detected flash encryption enabled and download manual encrypt disabled."
    result = bench.espforge("write-flash", hex(APP_ADDRESS), source)
    message = error_line(result)
    assert message.startswith("A fatal error occurred: " + first_line.rstrip(".") + ": data must")
    assert message.endswith("with --force.")
    assert bench.flash(APP_ADDRESS, 16) == b"\xff" * 16  # nothing was written
    # --force writes (here the plaintext, which the chip then takes for ciphertext).
    result = bench.espforge("write-flash", "--force", hex(APP_ADDRESS), source)
    assert result.exit_code == 0, result.output
    assert bench.flash(APP_ADDRESS, len(data)) == data


def test_secure_download_mode_writes_encrypted_where_plaintext_is_refused(tmp_path) -> None:
    """The eFuses cannot be read, so esptool's key checks are skipped; the plaintext-over-
    encryption refusal is for plaintext writes only."""
    bench = Bench("esp32c3", tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        espefuse.main(
            ["--chip", "esp32c3", "--virt", "--path-efuse-file", str(bench.efuse_file)]
            + ["--do-not-confirm", "burn-efuse", "SPI_BOOT_CRYPT_CNT", "1"]
        )
    bench.secure_download = True
    plain = payload(5000)
    source = bench.file("app.bin", plain)
    refused = bench.espforge("write-flash", "--no-skip-unchanged", hex(APP_ADDRESS), source)
    assert "flashing a plaintext binary may brick your device" in error_line(refused)
    result = bench.espforge("write-flash", "--encrypt", hex(APP_ADDRESS), source, stub=False)
    assert CANNOT_VERIFY in espforge_output(result)
    assert_encrypted_at(bench, APP_ADDRESS, plain)


def test_the_esp32_rom_cannot_encrypt_in_esptools_words(tmp_path) -> None:
    bench = Bench("esp32", tmp_path)
    source = bench.file("app.bin", payload(3000))
    expected = bench.esptool("write-flash", "--encrypt", hex(APP_ADDRESS), source, stub=False)
    message = expected.split("A fatal error occurred: ", 1)[1].strip()
    assert message.startswith("ESP32 ROM bootloader does not support encrypted writes.")
    result = bench.espforge("write-flash", "--encrypt", hex(APP_ADDRESS), source, stub=False)
    assert error_line(result).endswith(message)
