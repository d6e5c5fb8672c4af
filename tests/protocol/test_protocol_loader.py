"""The loader against a scripted ROM: identification, chip facts, commands, and the packets
compared with what the stock esptool 5.6 sends for the same operations."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_protocol_channel import FAST, FakePort, ScriptedRom

from espforge.chips import CHIP_NAMES, ChipSpec, all_chips, get_chip
from espforge.chips.base import CHIP_DETECT_MAGIC_REG, OtpMac
from espforge.config import Settings
from espforge.errors import (
    ConnectError,
    EspforgeError,
    NotSupportedError,
    PortError,
    ProtocolError,
    SecureDownloadModeError,
    WrongChipError,
)
from espforge.link.slip import slip_encode
from espforge.protocol import connect as connect_module
from espforge.protocol.commands import Opcode, Request, encode_response
from espforge.protocol.connect import ConnectOptions, connect, connect_over
from espforge.protocol.dialect import esp8266_erase_size
from espforge.protocol.loader import Loader
from espforge.protocol.resets import hard_reset

# A register file every chip can be identified and read from: plausible eFuse contents.
MAC_WORDS = (0x12345678, 0xFFFEABCD)


def rom_for(chip: ChipSpec, **options) -> ScriptedRom:
    registers: dict[int, int] = {}
    if chip.uses_magic_value:
        registers[CHIP_DETECT_MAGIC_REG] = chip.magic_value or 0
    if isinstance(chip.mac, OtpMac):
        registers.update({chip.mac.mac0: 0xAB000000, chip.mac.mac1: 0x0000CDEF})
    elif chip.mac is not None:
        registers.update({chip.mac.low_word: MAC_WORDS[0], chip.mac.high_word: MAC_WORDS[1]})
    registers.update(options.pop("registers", {}))
    return ScriptedRom(chip, registers, **options)


def connected(chip: ChipSpec, rom: ScriptedRom | None = None, requested: str = "auto"):
    port = FakePort(rom or rom_for(chip))
    return connect_over(
        port, ConnectOptions(chip=requested, before="no-reset", settings=FAST)
    ), port


@pytest.mark.parametrize("chip", all_chips(), ids=lambda chip: chip.name)
def test_every_chip_is_identified(chip: ChipSpec) -> None:
    loader, port = connected(chip)
    assert loader.chip == chip
    assert loader.secure_download_mode is False
    assert port.sent_opcodes()[0] == Opcode.SYNC


def test_a_chip_id_the_client_does_not_know_is_refused() -> None:
    chip = get_chip("esp32c3")
    rom = rom_for(chip)
    rom.chip = type(chip)(**{**chip.__dict__, "image_chip_id": 999})
    with pytest.raises(ConnectError, match="unexpected chip id 999"):
        connected(chip, rom)


def test_a_chip_other_than_the_one_asked_for_is_refused() -> None:
    with pytest.raises(WrongChipError, match="this chip is ESP32-C3, not ESP32-S3"):
        connected(get_chip("esp32c3"), requested="esp32s3")
    with pytest.raises(WrongChipError, match="this chip is ESP32, not ESP8266"):
        connected(get_chip("esp32"), requested="esp8266")


def test_secure_download_mode_is_detected_and_reads_are_refused() -> None:
    chip = get_chip("esp32c3")
    loader, port = connected(chip, rom_for(chip, security_flags=1 << 2))
    assert loader.secure_download_mode is True
    with pytest.raises(SecureDownloadModeError, match="Secure Download Mode"):
        loader.read_reg(0x60000000)
    with pytest.raises(SecureDownloadModeError):
        loader.flash_md5(0, 0x1000)
    assert loader.security_info().secure_download_mode


def test_esp32s2_in_secure_download_mode_is_told_by_its_refused_magic_read() -> None:
    chip = get_chip("esp32s2")
    rom = rom_for(chip)

    def refuse_reads(request: Request, reply: bytes) -> bytes:
        if request.opcode == Opcode.READ_REG:
            return slip_encode(encode_response(Opcode.READ_REG, 0, rom.failure(0x05)))
        return reply

    port = FakePort(rom, refuse_reads)
    loader = connect_over(port, ConnectOptions(before="no-reset", settings=FAST))
    assert (loader.chip, loader.secure_download_mode) == (chip, True)


def test_no_sync_reply_gives_a_diagnosis_from_what_the_chip_printed() -> None:
    chip = get_chip("esp32")
    boot_log = b"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
    port = FakePort(rom_for(chip), lambda request, reply: boot_log)
    with pytest.raises(ConnectError, match=r"wrong boot mode \(0x13\).*hold BOOT") as caught:
        connect_over(port, ConnectOptions(before="no-reset", connect_attempts=1, settings=FAST))
    assert boot_log in caught.value.chip_output


# ------------------------------------------------------------ chip facts vs esptool


def esptool_for(chip: ChipSpec, port: FakePort):
    esptool_targets = pytest.importorskip("esptool.targets")
    return esptool_targets.CHIP_DEFS[chip.name](port, 115200)


@pytest.mark.parametrize("chip", all_chips(), ids=lambda chip: chip.name)
def test_read_mac_matches_esptool(chip: ChipSpec) -> None:
    loader, _ = connected(chip)
    esp = esptool_for(chip, FakePort(rom_for(chip)))
    assert tuple(loader.read_mac()) == esp.read_mac()


@pytest.mark.parametrize("name", ["esp32", "esp32c3", "esp8266", "esp32s3"])
def test_flash_id_and_status_commands_send_what_esptool_sends(name: str) -> None:
    chip = get_chip(name)
    loader, ours = connected(chip)
    esp = esptool_for(chip, FakePort(rom_for(chip)))
    theirs: FakePort = esp._port
    start = len(ours.rom.requests)
    assert loader.flash_id() == esp.flash_id() == 0x1640EF
    loader.read_flash_status(3)
    esp.read_status(3)
    loader.write_flash_status(0x0203, 2)
    esp.write_status(0x0203, 2)
    assert loader.read_flash_sfdp(0x10, 4) == esp.read_spiflash_sfdp(0x10, 32)
    assert packets(ours.rom.requests[start:]) == packets(theirs.rom.requests)


def packets(requests: list[Request]) -> list[tuple[int, bytes, int]]:
    return [(r.opcode, r.data, r.checksum) for r in requests]


def _our_flash_session(loader: Loader, data: bytes, packed: bytes) -> None:
    blocks = loader.flash_begin(len(data), 0x10000)
    for seq in range(blocks):
        loader.flash_block(data[seq * 0x400 : (seq + 1) * 0x400], seq)
    if loader.chip.rom.compressed_writes:
        blocks = loader.flash_defl_begin(len(data), len(packed), 0x20000)
        for seq in range(blocks):
            loader.flash_defl_block(packed[seq * 0x400 : (seq + 1) * 0x400], seq)
        assert loader.flash_md5(0x20000, len(data)) == bytes.fromhex(
            "d41d8cd98f00b204e9800998ecf8427e"
        )
        loader.read_flash(0x1000, 100)
    loader.spi_attach()
    loader.spi_set_params(4 * 1024 * 1024)
    loader.mem_begin(16, 1, 0x1800, 0x40080000)
    loader.mem_block(b"\x01" * 16, 0)
    loader.flash_finish(reboot=False)


def _esptool_flash_session(esp, data: bytes, packed: bytes) -> None:
    blocks = esp.flash_begin(len(data), 0x10000, logging=False)
    for seq in range(blocks):
        esp.flash_block(data[seq * 0x400 : (seq + 1) * 0x400], seq)
    if esp.CHIP_NAME != "ESP8266":
        blocks = esp.flash_defl_begin(len(data), len(packed), 0x20000)
        for seq in range(blocks):
            esp.flash_defl_block(packed[seq * 0x400 : (seq + 1) * 0x400], seq)
        esp.flash_md5sum(0x20000, len(data))
        esp.read_flash_slow(0x1000, 100, None)
    esp.flash_spi_attach(0)
    esp.flash_set_parameters(4 * 1024 * 1024)
    esp.mem_begin(16, 1, 0x1800, 0x40080000)
    esp.mem_block(b"\x01" * 16, 0)
    esp.flash_finish(False)


@pytest.mark.parametrize("name", ["esp8266", "esp32", "esp32s2", "esp32c3", "esp32p4"])
def test_flash_commands_send_what_esptool_sends(name: str) -> None:
    chip = get_chip(name)
    data = bytes(range(256)) * 10 + b"tail"
    packed = zlib.compress(data, 9)
    loader, ours = connected(chip)
    esp = esptool_for(chip, FakePort(rom_for(chip)))
    start = len(ours.rom.requests)
    _our_flash_session(loader, data, packed)
    _esptool_flash_session(esp, data, packed)
    assert packets(ours.rom.requests[start:]) == packets(esp._port.rom.requests)


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_connecting_sends_what_esptool_sends(name: str) -> None:
    """Sync and identification: the same packets, except that espforge asks for the security
    info once where esptool asks two or four times (see `collapse_security_info`), and that
    the eFuse words of the chip revision (read while connecting to an ESP32-C2 by esptool, to an
    ESP32-P4 by both) may be read in another order or number."""
    esptool_cmds = pytest.importorskip("esptool.cmds")
    chip = get_chip(name)
    _, ours = connected(chip)
    theirs = FakePort(rom_for(chip))
    esptool_cmds.detect_chip(theirs, 115200, "no-reset", False, 1)
    esptool_packets = collapse_security_info(packets(theirs.rom.requests))
    our_packets = packets(ours.rom.requests)
    identified = 3 if chip.uses_magic_value else 2  # SYNC, GET_SECURITY_INFO, magic read
    assert our_packets[:identified] == esptool_packets[:identified]
    assert set(our_packets[identified:]) <= set(esptool_packets[identified:])
    assert all(p[0] == Opcode.READ_REG for p in esptool_packets[identified:])


def collapse_security_info(sent: list[tuple[int, bytes, int]]) -> list[tuple[int, bytes, int]]:
    first = next((p for p in sent if p[0] == Opcode.GET_SECURITY_INFO), None)
    return [p for p in sent if p[0] != Opcode.GET_SECURITY_INFO or p is first]


def test_esp32_baud_change_scales_by_the_rom_calibrated_clock_as_esptool() -> None:
    chip = get_chip("esp32")
    calibration = chip.crystal.rom_calibration
    assert calibration is not None
    registers = {
        calibration.cali_field.address: 1633 << 7,
        calibration.ck8m_field.address: 0x42,
    }
    loader, ours = connected(chip, rom_for(chip, registers=registers))
    esp = esptool_for(chip, FakePort(rom_for(chip, registers=registers)))
    start = len(ours.rom.requests)
    loader.change_baud(460800)
    esp.change_baud(460800)
    assert packets(ours.rom.requests[start:]) == packets(esp._port.rom.requests)
    assert ours.baudrate == 460800


def test_esp8266_rom_cannot_do_what_it_lacks() -> None:
    loader, _ = connected(get_chip("esp8266"))
    with pytest.raises(NotSupportedError, match="read flash.*stub"):
        loader.read_flash(0, 64)
    with pytest.raises(NotSupportedError):
        loader.change_baud(460800)
    with pytest.raises(NotSupportedError):
        loader.chip_revision()


@given(offset=st.integers(0, 0x400).map(lambda n: n * 0x1000), size=st.integers(0, 0x200000))
def test_esp8266_erase_size_matches_esptool(offset: int, size: int) -> None:
    from esptool.targets.esp8266 import ESP8266ROM

    assert esp8266_erase_size(offset, size) == ESP8266ROM.get_erase_size(ESP8266ROM, offset, size)


@pytest.mark.parametrize("name", ["esp32", "esp32c3", "esp32s3", "esp32p4", "esp32c6"])
def test_chip_revision_and_crystal(name: str) -> None:
    chip = get_chip(name)
    loader, _ = connected(chip)
    esp = esptool_for(chip, FakePort(rom_for(chip)))
    assert loader.chip_revision() == (esp.get_major_chip_version(), esp.get_minor_chip_version())
    assert loader.crystal_mhz() == esp.get_crystal_freq()


def test_security_info_fields() -> None:
    chip = get_chip("esp32c6")
    loader, _ = connected(chip, rom_for(chip, security_flags=0b101))
    info = loader.security_info()
    assert (info.chip_id, info.api_version, info.key_purposes) == (13, 1, tuple(range(7)))
    assert info.flag("SECURE_BOOT_EN") and not info.flag("HARD_DIS_JTAG")
    short = connected(get_chip("esp32s2"))[0].security_info()
    assert (short.chip_id, short.api_version) == (None, None)


def test_md5_from_a_stub_left_running_is_raw_bytes() -> None:
    chip = get_chip("esp32c3")
    rom = rom_for(chip)

    def raw_md5(request: Request, reply: bytes) -> bytes:
        if request.opcode == Opcode.SPI_FLASH_MD5:
            return slip_encode(encode_response(request.opcode, 0, bytes(range(16)) + b"\0\0"))
        return reply

    loader, _ = connected(chip, rom)
    loader.port.tamper = raw_md5
    assert loader.flash_md5(0, 16) == bytes(range(16))
    digest = bytes(range(200, 216))  # a first byte that is not a zero status
    loader.port.tamper = lambda request, reply: slip_encode(
        encode_response(request.opcode, 0, digest + b"\0\0")
    )
    assert loader.flash_md5(0, 16) == digest


def test_a_garbled_md5_reply_is_a_protocol_error() -> None:
    chip = get_chip("esp32c3")
    loader, port = connected(chip)
    port.tamper = lambda request, reply: slip_encode(
        encode_response(request.opcode, 0, b"zz" * 16 + bytes(4))
    )
    with pytest.raises(ProtocolError, match="MD5 reply is garbled"):
        loader.flash_md5(0, 16)


def test_esp32s2_security_info_with_flags_set() -> None:
    chip = get_chip("esp32s2")
    loader, _ = connected(chip, rom_for(chip, security_flags=0x7))
    assert loader.secure_download_mode
    assert loader.security_info().flags == 0x7


def test_register_packets() -> None:
    loader, port = connected(get_chip("esp32c3"))
    start = len(port.rom.requests)
    loader.write_reg(0x60000010, 5, mask=0xF, delay_us=7)
    assert port.rom.requests[start].data == struct.pack("<IIII", 0x60000010, 5, 0xF, 7)
    assert loader.read_reg(0x60000010) == 5


# ----------------------------------------------------------- connect() over URLs


def test_connect_through_a_pyserial_url_diagnoses_silence() -> None:
    with pytest.raises(ConnectError, match="no answer at all on loop://: check"):
        connect(ConnectOptions("loop://", before="no-reset", connect_attempts=1, settings=FAST))


def test_without_a_port_every_candidate_is_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connect_module, "candidate_ports", lambda port_filter: ["loop://"] * 2)
    with pytest.raises(ConnectError, match="any of the 2 serial ports found"):
        connect(ConnectOptions(before="no-reset", connect_attempts=1, settings=FAST))
    monkeypatch.setattr(connect_module, "candidate_ports", lambda port_filter: [])
    with pytest.raises(PortError, match="no serial ports found") as caught:
        connect(ConnectOptions(settings=FAST))
    assert caught.value.reason == "none-found"


def test_an_unknown_chip_name_fails_before_opening_anything() -> None:
    with pytest.raises(EspforgeError, match="unknown chip 'esp99'"):
        connect(ConnectOptions("/dev/does-not-matter", chip="esp99", settings=FAST))


def test_a_port_that_is_not_there_yet_is_tried_again(tmp_path, monkeypatch) -> None:
    opened: list[str] = []
    real_open = connect_module.open_port

    def counting_open(name, *args):
        opened.append(name)
        return real_open(name, *args)

    monkeypatch.setattr(connect_module, "open_port", counting_open)
    missing = str(tmp_path / "ttyUSB7")
    retrying = Settings(open_port_attempts=3)
    with pytest.raises(PortError, match="does not exist"):
        connect(ConnectOptions(missing, chip="esp32", settings=retrying))
    assert opened == [missing] * 3
    with pytest.raises(PortError):
        connect(ConnectOptions(missing, settings=retrying))  # only with --chip too, as esptool
    assert len(opened) == 4


@pytest.mark.parametrize("efuse_xpd_on", [0, 1 << 16])
@pytest.mark.parametrize("minor", [0, 1, 2])
def test_esp32p4_flash_power_on_writes_what_esptool_writes(minor: int, efuse_xpd_on: int) -> None:
    esptool_cmds = pytest.importorskip("esptool.cmds")
    chip = get_chip("esp32p4")
    power = chip.flash_power_on
    assert power is not None and power.rom_powered_field is not None
    registers = {
        0x5012D04C: (3 << 4) | minor,  # eFuse block 1 word 2: revision v3.<minor>
        power.rom_powered_field.address: efuse_xpd_on,
        power.rom_powered_steps[0].address: 0x3,  # PMU_DATE with the flash forced on
    }
    _, ours = connected(chip, rom_for(chip, registers=registers))
    theirs = FakePort(rom_for(chip, registers=registers))
    esptool_cmds.detect_chip(theirs, 115200, "no-reset", False, 1)

    def writes(port: FakePort) -> list[tuple[int, bytes, int]]:
        return [p for p in packets(port.rom.requests) if p[0] == Opcode.WRITE_REG]

    assert writes(ours) == writes(theirs)
    assert writes(ours) or minor == 0


def test_esp32s3_hard_reset_clears_forced_download_first_as_esptool() -> None:
    chip = get_chip("esp32s3")
    loader, ours = connected(chip)
    esp = esptool_for(chip, FakePort(rom_for(chip)))
    start = len(ours.rom.requests)
    hard_reset(loader)
    esp.hard_reset()
    assert packets(ours.rom.requests[start:]) == packets(esp._port.rom.requests)
    assert ours.rom.requests[start].opcode == Opcode.WRITE_REG
    assert (ours.rts, esp._port.rts) == (False, False)  # EN released: the chip runs
