"""The virtual chip's ROM bootloader, driven packet by packet as a host would."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from collections.abc import Iterator

import pytest

from conftest import esptool_in_process
from espforge.chips import CHIP_NAMES, base, get_chip
from espforge.chips.base import CHIP_DETECT_MAGIC_REG
from espforge.errors import EspforgeError
from espforge.link.slip import SlipDecoder, slip_encode
from espforge.protocol.commands import (
    SYNC_PAYLOAD,
    Opcode,
    Response,
    checksum,
    decode_response,
    encode_command,
)
from espforge.virtual.chip import BootState, ChipOptions, VirtualChip
from espforge.virtual.chip_options import LinkModel
from espforge.virtual.config import chip_from_options
from espforge.virtual.faults import FaultPlan
from espforge.virtual.identity import ChipIdentity
from espforge.virtual.nor_flash import NorFlash
from espforge.virtual.rom import FlashTiming

ESPTOOL_BOOT_PATTERN = re.compile(rb"boot:(0x[0-9a-fA-F]+)(.*waiting for download)?", re.DOTALL)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Host:
    """Sends requests to a VirtualChip and decodes what comes back."""

    def __init__(self, chip: VirtualChip) -> None:
        self.chip = chip
        self.decoder = SlipDecoder()
        self.text = b""

    def send(self, opcode: int, data: bytes = b"", check: int = 0) -> None:
        self.chip.receive(slip_encode(encode_command(opcode, data, check)))

    def responses(self) -> list[Response]:
        frames = self.decoder.feed(self.chip.read())
        self.text += self.decoder.take_noise()
        return [response for frame in frames if (response := decode_response(frame))]

    def command(self, opcode: int, data: bytes = b"", check: int = 0) -> Response:
        self.send(opcode, data, check)
        (response,) = self.responses()
        assert response.opcode == opcode
        return response

    def status(self, opcode: int, data: bytes = b"", check: int = 0) -> tuple[int, int]:
        """(failed, error code) from the status bytes ending the response."""
        response = self.command(opcode, data, check)
        status = response.data[len(response.data) - self.chip.chip.rom.status_length :]
        return status[0], status[1]

    def data_block(self, opcode: int, block: bytes, seq: int) -> tuple[int, int]:
        header = struct.pack("<IIII", len(block), seq, 0, 0)
        return self.status(opcode, header + block, checksum(block))

    def set_params(self, size: int) -> None:
        params = struct.pack("<IIIIII", 0, size, 0x10000, 0x1000, 0x100, 0xFFFF)
        assert self.status(Opcode.SPI_SET_PARAMS, params) == (0, 0)

    def begin(self, opcode: int, size: int, blocks: int, offset: int, block_size=0x400) -> tuple:
        words = [size, blocks, block_size, offset]
        if self.chip.chip.rom.flash_begin_encrypted_word:
            words.append(0)
        return self.status(opcode, struct.pack(f"<{len(words)}I", *words))

    def read_reg(self, address: int) -> int:
        return self.command(Opcode.READ_REG, struct.pack("<I", address)).value

    def write_reg(self, address: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        data = struct.pack("<IIII", address, value, mask, 0)
        assert self.status(Opcode.WRITE_REG, data) == (0, 0)


def make_chip(name: str, clock=None, **options) -> VirtualChip:
    """A 4 MB virtual chip with options; its boot banner is left unread."""
    flash = NorFlash(0x400000)
    if clock is None:
        return VirtualChip(get_chip(name), flash, ChipOptions(**options))
    return VirtualChip(get_chip(name), flash, ChipOptions(**options), clock)


def tiny_image(chip_id: int, load_address: int, data: bytes, entry: int) -> bytes:
    """A one-segment ESP32-family image: header, extended header, segment, checksum."""
    header = bytes([0xE9, 1, 2, 0x20]) + entry.to_bytes(4, "little")
    extended = bytes([0xEE, 0, 0, 0]) + chip_id.to_bytes(2, "little") + bytes(3)
    extended += b"\xff\xff" + bytes(5)
    body = header + extended + struct.pack("<II", load_address, len(data)) + data
    return body + bytes(15 - len(body) % 16) + bytes([checksum(data)])


@pytest.fixture
def host() -> Iterator[Host]:
    chip = VirtualChip.create("esp32c3")
    chip.read()  # the boot banner
    yield Host(chip)
    chip.close()


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_boot_banner_in_download_mode_as_esptool_detects_it(name: str) -> None:
    chip = VirtualChip.create(name)
    banner = chip.read()
    assert banner.decode() == get_chip(name).boot_messages.download_banner()
    match = ESPTOOL_BOOT_PATTERN.search(banner)
    if get_chip(name).image_format == "esp8266":
        assert match is None and b"boot mode:(1," in banner  # its ROM prints another format
    else:
        assert match is not None and match.group(2) is not None
    assert chip.state is BootState.DOWNLOAD
    chip.close()


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_every_rom_syncs_with_several_nonzero_replies(name: str) -> None:
    chip = VirtualChip.create(name)
    host = Host(chip)
    host.send(Opcode.SYNC, SYNC_PAYLOAD)
    replies = host.responses()
    assert len(replies) == 8
    status_length = 2 if name == "esp8266" else 4
    assert all(r.value != 0 and r.data == bytes(status_length) for r in replies)
    chip.close()


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_registers_hold_magic_mac_and_revision(name: str) -> None:
    spec = get_chip(name)
    identity = ChipIdentity(bytes.fromhex("A0B1C2D3E4F5"), (1, 2), 40)
    chip = make_chip(name, identity=identity)
    host = Host(chip)
    if spec.uses_magic_value:
        assert host.read_reg(CHIP_DETECT_MAGIC_REG) == spec.magic_value
    assert spec.mac.read(host.read_reg) == identity.mac
    if spec.revision is not None and spec.revision.major:
        assert spec.revision.read(host.read_reg) == (1, 2)
    clkdiv = host.read_reg(spec.uart_clkdiv_reg)
    assert spec.crystal.normalised_mhz(115200, clkdiv) == (spec.crystal.fixed_mhz or 40)
    chip.close()


def test_unknown_and_missing_commands_answer_invalid_message() -> None:
    esp32 = Host(VirtualChip.create("esp32"))
    assert esp32.status(0x55) == (1, 0x05)
    assert esp32.status(Opcode.GET_SECURITY_INFO) == (1, 0x05)  # not in the ESP32 ROM
    assert esp32.status(Opcode.ERASE_FLASH) == (1, 0x05)  # stub only
    esp8266 = Host(VirtualChip.create("esp8266"))
    response = esp8266.command(Opcode.SPI_FLASH_MD5, bytes(16))
    assert response.data == b"\x01\x05"  # two status bytes on the ESP8266 ROM
    for opcode in (Opcode.FLASH_DEFL_BEGIN, Opcode.READ_FLASH_SLOW, Opcode.CHANGE_BAUDRATE):
        assert esp8266.status(opcode, bytes(8)) == (1, 0x05)


def test_security_info_layout_per_chip() -> None:
    s3 = Host(VirtualChip.create("esp32s3"))
    data = s3.command(Opcode.GET_SECURITY_INFO).data
    assert len(data) == 24
    flags, crypt_count, *purposes, chip_id, _api = struct.unpack("<IB7BII", data[:20])
    assert (flags, crypt_count, chip_id) == (0, 0, 9)
    s2 = Host(VirtualChip.create("esp32s2"))
    assert len(s2.command(Opcode.GET_SECURITY_INFO).data) == 12 + 4
    sdm_host = Host(make_chip("esp32c3", secure_download=True))
    assert struct.unpack_from("<I", sdm_host.command(Opcode.GET_SECURITY_INFO).data)[0] & 4
    assert sdm_host.status(Opcode.READ_REG, bytes(4)) == (1, 0x05)


def test_flash_write_checks_checksum_sequence_and_session(host: Host) -> None:
    block = bytes(range(256)) * 4
    assert host.data_block(Opcode.FLASH_DATA, block, 0) == (1, 0x06)  # no FLASH_BEGIN yet
    assert host.begin(Opcode.FLASH_BEGIN, 0x1000, 4, 0x1000) == (0, 0)
    header = struct.pack("<IIII", len(block), 0, 0, 0)
    assert host.status(Opcode.FLASH_DATA, header + block, checksum(block) ^ 1) == (1, 0x07)
    assert host.data_block(Opcode.FLASH_DATA, block, 1) == (1, 0x06)  # seq 0 expected
    assert host.data_block(Opcode.FLASH_DATA, block, 0) == (0, 0)
    assert host.data_block(Opcode.FLASH_DATA, block, 0) == (0, 0)  # a retry is acknowledged
    assert host.data_block(Opcode.FLASH_DATA, block[::-1], 0) == (1, 0x06)
    assert host.data_block(Opcode.FLASH_DATA, block, 1) == (0, 0)
    wrong_length = struct.pack("<IIII", 10, 2, 0, 0) + block
    assert host.status(Opcode.FLASH_DATA, wrong_length, checksum(block)) == (1, 0x05)
    assert host.chip.flash.read(0x1000, 0x800) == block * 2
    assert host.chip.flash.read(0x1800, 0x800) == b"\xff" * 0x800


def test_flash_begin_erases_and_programming_only_clears_bits(host: Host) -> None:
    host.chip.flash.program(0x3000, b"\x00" * 0x2000)
    assert host.begin(Opcode.FLASH_BEGIN, 0x1001, 1, 0x3000) == (0, 0)  # two sectors
    assert host.chip.flash.read(0x3000, 0x2000) == b"\xff" * 0x2000
    assert host.data_block(Opcode.FLASH_DATA, b"\x0f" * 0x400, 0) == (0, 0)
    assert host.begin(Opcode.FLASH_BEGIN, 0, 1, 0x3000) == (0, 0)  # no erase this time
    assert host.data_block(Opcode.FLASH_DATA, b"\xf3" * 0x400, 0) == (0, 0)
    assert host.chip.flash.read(0x3000, 0x400) == b"\x03" * 0x400


def test_addresses_beyond_the_rom_flash_size_are_refused(host: Host) -> None:
    # Until SPI_SET_PARAMS, a ROM assumes 2 MB.
    assert host.begin(Opcode.FLASH_BEGIN, 0x1000, 4, 0x200000) == (1, 0x06)
    host.set_params(0x400000)
    assert host.begin(Opcode.FLASH_BEGIN, 0x1000, 4, 0x200000) == (0, 0)
    host.set_params(0x1000000)  # more than the 4 MB chip holds
    assert host.begin(Opcode.FLASH_BEGIN, 0x1000, 4, 0x400000) == (1, 0x06)
    assert host.status(Opcode.READ_FLASH_SLOW, struct.pack("<II", 0x400000, 16)) == (1, 0x09)
    assert host.status(Opcode.READ_FLASH_SLOW, struct.pack("<II", 0, 65)) == (1, 0x0A)
    assert host.status(Opcode.SPI_FLASH_MD5, struct.pack("<IIII", 0x3FF000, 0x2000, 0, 0)) == (
        1,
        0x09,
    )


def test_compressed_stream_spans_blocks(host: Host) -> None:
    plain = bytes(range(256)) * 40 + b"tail" * 700
    packed = zlib.compress(plain, 9)
    blocks = [packed[i : i + 0x400] for i in range(0, len(packed), 0x400)]
    erase = -(-len(plain) // 0x400) * 0x400
    assert host.begin(Opcode.FLASH_DEFL_BEGIN, erase, len(blocks), 0x8000) == (0, 0)
    for seq, block in enumerate(blocks):
        assert host.data_block(Opcode.FLASH_DEFL_DATA, block, seq) == (0, 0)
    assert host.chip.flash.read(0x8000, len(plain)) == plain
    assert host.begin(Opcode.FLASH_DEFL_BEGIN, 0x1000, 1, 0x8000) == (0, 0)
    assert host.data_block(Opcode.FLASH_DEFL_DATA, b"not zlib at all", 0) == (1, 0x0B)


def test_md5_and_slow_read_answer_as_roms_do(host: Host) -> None:
    host.chip.flash.program(0x2000, b"espforge" * 16)
    response = host.command(Opcode.SPI_FLASH_MD5, struct.pack("<IIII", 0x2000, 100, 0, 0))
    expected = hashlib.md5(host.chip.flash.read(0x2000, 100)).hexdigest().encode()
    assert response.data == expected + bytes(4)
    response = host.command(Opcode.READ_FLASH_SLOW, struct.pack("<II", 0x2000, 10))
    assert response.data[:64] == (b"espforge" * 16)[:64] and len(response.data) == 68


def test_esp8266_rom_erases_what_its_erase_bug_makes_it_erase() -> None:
    chip = VirtualChip.create("esp8266")
    host = Host(chip)
    chip.flash.program(0, b"\x00" * 0x40000)
    # 5 sectors asked at sector 1: head = min(15, 5) = 5, so 10 sectors go.
    assert host.begin(Opcode.FLASH_BEGIN, 5 * 0x1000, 0, 0x1000) == (0, 0)
    assert chip.flash.read(0x1000, 10 * 0x1000) == b"\xff" * 0xA000
    assert chip.flash.read(0xB000, 0x1000) == b"\x00" * 0x1000
    # esptool's compensated size erases exactly the region it means.
    rom_class = pytest.importorskip("esptool.targets.esp8266").ESP8266ROM
    size = rom_class.__new__(rom_class).get_erase_size(0x20000, 37 * 0x1000)
    chip.flash.program(0, b"\x00" * 0x60000)
    assert host.begin(Opcode.FLASH_BEGIN, size, 0, 0x20000) == (0, 0)
    assert chip.flash.read(0x20000, 37 * 0x1000) == b"\xff" * 37 * 0x1000
    assert chip.flash.read(0x1F000, 0x1000) == chip.flash.read(0x45000, 0x1000) == bytes(0x1000)
    # The bug's extra sectors past the end of flash erase nothing and fail nothing.
    last = chip.flash.size - 0x1000
    assert host.begin(Opcode.FLASH_BEGIN, 0x1000, 0, last) == (0, 0)
    assert host.begin(Opcode.FLASH_BEGIN, 0x2000, 0, last) == (1, 0x06)  # asked past the end


def test_ram_download_lands_in_memory_and_runs(host: Host) -> None:
    code = bytes(range(200))
    assert host.status(Opcode.MEM_BEGIN, struct.pack("<IIII", 200, 1, 0x1800, 0x3FC90000)) == (
        0,
        0,
    )
    assert host.data_block(Opcode.MEM_DATA, code, 0) == (0, 0)
    assert host.read_reg(0x3FC90004) == int.from_bytes(code[4:8], "little")
    assert host.status(Opcode.MEM_BEGIN, struct.pack("<IIII", 4, 1, 4, 0x42000000)) == (1, 0x0F)
    assert host.status(Opcode.MEM_END, struct.pack("<II", 0, 0x3FC90000)) == (0, 0)
    assert host.chip.state is BootState.RAM_CODE


def spi_command(host: Host, opcode: int, data: bytes = b"", read_bits: int = 0, address=None):
    """Run a raw flash command through the SPI controller registers, as esptool does."""
    spi = host.chip.chip.spi
    usr = base.SPI_USR_COMMAND | (base.SPI_USR_MISO if read_bits else 0)
    usr |= base.SPI_USR_MOSI if data else 0
    usr1 = 0
    if spi.mosi_dlen_offs is None:
        usr1 = max(read_bits - 1, 0) << 8 | max(len(data) * 8 - 1, 0) << 17
    else:
        if data:
            host.write_reg(spi.base + spi.mosi_dlen_offs, len(data) * 8 - 1)
        if read_bits:
            host.write_reg(spi.base + spi.miso_dlen_offs, read_bits - 1)
    if address is not None:
        usr |= base.SPI_USR_ADDR | base.SPI_USR_DUMMY
        usr1 |= 23 << base.SPI_USR1_ADDR_LEN_SHIFT | 7
        host.write_reg(spi.addr_reg, address << 8 if spi.addr_msb_aligned else address)
    host.write_reg(spi.usr1_reg, usr1)
    host.write_reg(spi.usr_reg, usr)
    host.write_reg(spi.usr2_reg, 7 << base.SPI_USR2_COMMAND_LEN_SHIFT | opcode)
    host.write_reg(spi.w0_reg, int.from_bytes(data.ljust(4, b"\0")[:4], "little"))
    host.write_reg(spi.cmd_reg, base.SPI_CMD_USR)
    assert host.read_reg(spi.cmd_reg) & base.SPI_CMD_USR == 0  # done at once
    return host.read_reg(spi.w0_reg)


@pytest.mark.parametrize("name", ["esp8266", "esp32", "esp32c6"])
def test_spi_flash_commands_through_the_controller_registers(name: str) -> None:
    chip = VirtualChip.create(name, flash_size="8MB")
    host = Host(chip)
    assert spi_command(host, 0x9F, read_bits=24) == 0x1740EF  # Winbond, 8 MB
    assert spi_command(host, 0x5A, read_bits=32, address=0) == int.from_bytes(b"SFDP", "little")
    assert spi_command(host, 0x05, read_bits=8) == 0x00
    spi_command(host, 0x06)  # write enable
    assert spi_command(host, 0x05, read_bits=8) == 0x02
    spi_command(host, 0x01, data=b"\x1c\x02")
    assert spi_command(host, 0x05, read_bits=8) == 0x1C
    assert spi_command(host, 0x35, read_bits=8) == 0x02
    chip.close()


def test_change_baudrate_moves_the_uart_divider() -> None:
    chip = VirtualChip.create("esp32c3")
    host = Host(chip)
    assert host.status(Opcode.CHANGE_BAUDRATE, struct.pack("<II", 921600, 0)) == (0, 0)
    assert chip.baud == 921600
    assert host.read_reg(chip.chip.uart_clkdiv_reg) == round(40e6 / 921600)
    c2 = make_chip("esp32c2", identity=ChipIdentity(bytes(6), (1, 0), 26))
    # The C2 ROM thinks its crystal is 40 MHz: esptool sends baud * 40 // 26.
    request = struct.pack("<II", 921600 * 40 // 26, 0)
    assert Host(c2).status(Opcode.CHANGE_BAUDRATE, request) == (0, 0)
    assert abs(c2.baud - 921600) < 10


def test_classic_reset_sequence_prints_the_download_banner() -> None:
    clock = FakeClock()
    chip = make_chip("esp32", clock)
    chip.read()
    chip.set_lines(dtr=False, rts=True)  # EN low
    assert chip.state is BootState.RESET
    clock.now += 0.1
    chip.set_lines(dtr=True, rts=True)  # both asserted: EN released, GPIO0 high for an instant
    chip.set_lines(dtr=True, rts=False)  # GPIO0 low before the chip samples it
    clock.now += 0.05
    chip.set_lines(dtr=False, rts=False)
    assert chip.state is BootState.DOWNLOAD
    assert b"waiting for download" in chip.read()


def test_tight_reset_sequence_with_both_lines_set_at_once() -> None:
    clock = FakeClock()
    chip = make_chip("esp32s3", clock, start_in_app=True)
    chip.read()
    for dtr, rts, wait in ((False, False, 0), (True, True, 0), (False, True, 0.1)):
        chip.set_lines(dtr, rts)
        clock.now += wait
    chip.set_lines(True, False)  # EN released with GPIO0 low in one step
    clock.now += 0.05
    chip.set_lines(False, False)
    assert chip.state is BootState.DOWNLOAD
    assert b"boot:0x0 (DOWNLOAD(USB/UART0))" in chip.read()


def test_hard_reset_boots_from_flash_blank_or_with_an_image() -> None:
    clock = FakeClock()
    chip = make_chip("esp32c3", clock)
    chip.read()

    def pulse_en() -> bytes:
        chip.set_lines(dtr=False, rts=True)
        clock.now += 0.1
        chip.set_lines(dtr=False, rts=False)
        clock.now += 0.1
        return chip.read()

    assert b"invalid header: 0xffffffff" in pulse_en()
    assert chip.state is BootState.APPLICATION
    chip.flash.program(0, tiny_image(5, 0x3FC80000, bytes(range(8)), 0x40380000))
    text = pulse_en().decode()
    assert "load:0x3fc80000,len:0x8" in text and "entry 0x40380000" in text


def test_start_in_app_ignores_the_protocol_until_reset() -> None:
    chip = chip_from_options("esp32s3", {"start": "app"})
    host = Host(chip)
    assert b"SPI_FAST_FLASH_BOOT" in chip.read()
    host.send(Opcode.SYNC, SYNC_PAYLOAD)
    assert host.responses() == []
    chip.reset(download=True)
    host.send(Opcode.SYNC, SYNC_PAYLOAD)
    assert len(host.responses()) == 8
    chip.close()


def test_flash_end_runs_user_code(host: Host) -> None:
    assert host.begin(Opcode.FLASH_BEGIN, 0, 0, 0) == (0, 0)
    assert host.status(Opcode.FLASH_END, struct.pack("<I", 1)) == (0, 0)
    assert host.chip.state is BootState.APPLICATION
    assert b"SPI_FAST_FLASH_BOOT" in host.text + host.chip.read()


def test_link_model_charges_bytes_latency_and_flash_time() -> None:
    clock = FakeClock()
    link = LinkModel(throttle=True, latency=0.001, timing=FlashTiming())
    chip = make_chip("esp32c3", clock, link=link)
    host = Host(chip)
    clock.now += 1
    chip.read()
    request = slip_encode(encode_command(Opcode.READ_REG, bytes(4)))
    chip.receive(request)
    assert chip.read() == b""  # nothing yet: the bytes are still on the wire
    arrival = len(request) * 10 / 115200
    reply_time = 14 * 10 / 115200  # SLIP-framed 12-byte response
    clock.now += arrival + 0.001 + reply_time - 1e-6
    assert chip.read() == b""
    clock.now += 2e-6
    assert len(host.responses()) == 1
    # A 64 KB erase takes a block erase time before FLASH_BEGIN is answered.
    words = struct.pack("<5I", 0x10000, 64, 0x400, 0x10000, 0)
    chip.receive(slip_encode(encode_command(Opcode.FLASH_BEGIN, words)))
    clock.now += 0.14
    assert host.responses() == []
    clock.now += 0.02
    assert len(host.responses()) == 1
    chip.close()


def test_faults_are_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[int]:
        chip = make_chip("esp32", faults=FaultPlan(seed=seed, drop=0.3, corrupt=0.2))
        host = Host(chip)
        outcome = []
        for _ in range(30):
            host.send(Opcode.READ_REG, struct.pack("<I", CHIP_DETECT_MAGIC_REG))
            replies = host.responses()
            outcome.append(replies[0].value if replies else -1)
        chip.close()
        return outcome

    first = run(7)
    assert first == run(7)
    assert -1 in first and 0xF01D83 in first
    assert any(value not in (-1, 0xF01D83) for value in first) or first != run(8)


def test_fault_reset_mid_transfer_loses_the_session_and_prints_a_banner() -> None:
    chip = make_chip("esp32c3", faults=FaultPlan(reset_after=3))
    host = Host(chip)
    chip.read()
    host.begin(Opcode.FLASH_BEGIN, 0x1000, 4, 0)
    assert host.data_block(Opcode.FLASH_DATA, bytes(0x400), 0) == (0, 0)
    host.send(Opcode.FLASH_DATA, struct.pack("<IIII", 0x400, 1, 0, 0) + bytes(0x400), 0xEF)
    assert host.responses() == []  # the chip reset before answering
    assert b"waiting for download" in host.text
    assert host.data_block(Opcode.FLASH_DATA, bytes(0x400), 2) == (1, 0x06)


def test_fault_disconnect_and_plan_from_text() -> None:
    plan = FaultPlan.from_text("drop=0.5,delay_seconds=2,disconnect_after=2,only=SYNC/READ_REG")
    assert plan.opcodes == {Opcode.SYNC, Opcode.READ_REG} and plan.delay_seconds == 2
    chip = make_chip("esp32", faults=FaultPlan(disconnect_after=2))
    host = Host(chip)
    host.read_reg(0)
    assert not chip.disconnected
    host.read_reg(0)
    assert chip.disconnected
    with pytest.raises(EspforgeError, match="not understood"):
        FaultPlan.from_text("explode=1")


def test_command_log_records_every_command(tmp_path) -> None:
    log = tmp_path / "commands.jsonl"
    chip = chip_from_options("esp32c6", {"log": str(log)})
    host = Host(chip)
    host.send(Opcode.SYNC, SYNC_PAYLOAD)
    host.responses()
    host.status(0x77)
    chip.close()
    assert [(entry.name, entry.status) for entry in chip.command_log] == [
        ("SYNC", (0, 0)),
        ("0x77", (1, 5)),
    ]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[0]["op"] == "SYNC" and bytes.fromhex(records[0]["data"]) == SYNC_PAYLOAD


def test_options_are_checked() -> None:
    with pytest.raises(EspforgeError, match="option 'colour' is unknown"):
        chip_from_options("esp32", {"colour": "blue"})
    with pytest.raises(EspforgeError, match="not 6 hex bytes"):
        chip_from_options("esp32", {"mac": "12:34"})
    with pytest.raises(EspforgeError, match="flash size 'huge'"):
        chip_from_options("esp32", {"flash_size": "huge"})
    chip = chip_from_options("esp32", {"mac": "02:00:00:00:00:01", "revision": "3.0"})
    host = Host(chip)
    assert chip.chip.mac.read(host.read_reg) == bytes.fromhex("020000000001")
    assert chip.chip.revision.read(host.read_reg) == (3, 0)
    chip.close()


def test_a_fresh_virtual_esp32_has_the_factory_efuses_of_a_typical_part() -> None:
    pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")

    output = esptool_in_process("--port", "virtual://esp32", "--no-stub", "chip-id")
    features = next(line for line in output.splitlines() if line.startswith("Features:"))
    assert features.split(":", 1)[1].strip() == (
        "Wi-Fi, BT, Dual Core + LP Core, 240MHz, Vref calibration in eFuse, Coding Scheme None"
    )
