"""Chip facts agree with esptool 5.6's target descriptions (test-only oracle)."""

from __future__ import annotations

import random
import struct
from collections import defaultdict

import pytest

from espforge.chips import CHIP_NAMES, all_chips, chip_by_image_id, get_chip
from espforge.chips.base import EfuseMac, OtpMac
from espforge.efuse.table import table_chips
from espforge.errors import EspforgeError

targets = pytest.importorskip("esptool.targets", reason="esptool (test-only oracle) is absent")
bin_image = pytest.importorskip("esptool.bin_image")


def test_every_chip_esptool_knows_is_described() -> None:
    assert set(CHIP_NAMES) == set(targets.CHIP_DEFS)


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_chip_facts_match_esptool(name: str) -> None:
    ours = get_chip(name)
    theirs = targets.CHIP_DEFS[name]
    assert ours.chip_name == theirs.CHIP_NAME
    assert ours.bootloader_flash_offset == theirs.BOOTLOADER_FLASH_OFFSET
    assert ours.uf2_family_id == theirs.UF2_FAMILY_ID
    assert dict(ours.flash_sizes) == theirs.FLASH_SIZES
    assert dict(ours.flash_frequencies) == theirs.FLASH_FREQUENCY
    assert [(r.start, r.end, r.name) for r in ours.memory_map] == [
        tuple(entry) for entry in theirs.MEMORY_MAP
    ]
    assert ours.irom_map == (theirs.IROM_MAP_START, theirs.IROM_MAP_END)
    assert ours.uses_magic_value == theirs.USES_MAGIC_VALUE
    if ours.uses_magic_value:
        assert ours.magic_value == theirs.MAGIC_VALUE
    assert ours.security_info_supported == theirs.SECURITY_INFO_SUPPORTED
    assert ours.usb_serial_jtag_supported == theirs.USB_SERIAL_JTAG_SUPPORTED
    assert ours.uart_date_reg == theirs.UART_DATE_REG_ADDR
    assert ours.spi.base == theirs.SPI_REG_BASE
    assert ours.spi.w0_offs == theirs.SPI_W0_OFFS
    assert ours.mmu_page_sizes == tuple(theirs.BOOTLOADER_IMAGE.MMU_PAGE_SIZE_CONF)


@pytest.mark.parametrize("name", [n for n in CHIP_NAMES if n != "esp8266"])
def test_image_chip_id_finds_chip(name: str) -> None:
    chip = get_chip(name)
    assert chip.image_chip_id == targets.CHIP_DEFS[name].IMAGE_CHIP_ID
    assert chip_by_image_id(chip.image_chip_id) is chip


def test_lookup_accepts_printed_names_and_refuses_unknown() -> None:
    assert get_chip("ESP32-C3") is get_chip("esp32c3")
    with pytest.raises(EspforgeError, match="unknown chip 'esp99'"):
        get_chip("esp99")


def test_region_names_of_an_address() -> None:
    esp32 = get_chip("esp32")
    assert esp32.region_names(0x3FFB0000) == ["BYTE_ACCESSIBLE", "DRAM"]
    assert esp32.is_flash_mapped(0x3F400020)
    assert not esp32.is_flash_mapped(0x40080000)


# --- Wire facts, checked against what esptool's ROM classes do with the same registers. ---

esptool_util = pytest.importorskip("esptool.util")
loader = pytest.importorskip("esptool.loader")


class _FakePort:
    baudrate = 115200


def _rom_with_registers(name: str, registers: dict[int, int]):
    """esptool's ROM class for `name`, not connected, reading registers from a dict."""
    rom = targets.CHIP_DEFS[name].__new__(targets.CHIP_DEFS[name])
    rom.read_reg = lambda address, *args, **kwargs: registers[address]
    rom._port = _FakePort()
    rom.IS_STUB = False
    rom.secure_download_mode = False
    rom.cache = defaultdict(lambda: None)
    return rom


def _random_registers(seed: int) -> dict[int, int]:
    rng = random.Random(seed)
    return defaultdict(lambda: rng.getrandbits(32))


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_revision_fields_read_as_esptool_reads_them(name: str) -> None:
    chip = get_chip(name)
    if chip.revision is None:
        assert name == "esp8266"
        return
    for seed in range(200):
        registers = _random_registers(seed)
        rom = _rom_with_registers(name, registers)
        expected = (rom.get_major_chip_version(), rom.get_minor_chip_version())
        assert chip.revision.read(registers.__getitem__) == expected


def test_esp32s3_reads_v0_from_its_early_efuse_layout() -> None:
    chip = get_chip("esp32s3")
    registers: dict[int, int] = defaultdict(int)
    for field, value in chip.revision.v0_when:
        registers[field.address] = field.insert(registers[field.address], value)
    registers[0x60007044 + 20] = 0xFFFFFFFF & ~(0x7 << 18)  # raw major 3, raw minor high bit
    rom = _rom_with_registers("esp32s3", registers)
    assert chip.revision.read(registers.__getitem__) == (0, 0)
    assert (rom.get_major_chip_version(), rom.get_minor_chip_version()) == (0, 0)


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_mac_reads_as_esptool_reads_it(name: str) -> None:
    chip = get_chip(name)
    for seed in range(50):
        registers = _random_registers(seed)
        # ESP8266: exercise both OUI paths, MAC3 set and MAC3 clear with a known code in MAC1.
        if isinstance(chip.mac, OtpMac) and seed % 2:
            registers[chip.mac.mac3] = 0
            registers[chip.mac.mac1] = (registers[chip.mac.mac1] & 0xFF00FFFF) | (
                (seed % 4 // 2) << 16
            )
        rom = _rom_with_registers(name, registers)
        assert chip.mac.read(registers.__getitem__) == bytes(rom.read_mac("BASE_MAC"))
        if isinstance(chip.mac, EfuseMac):
            eui64 = rom.read_mac("EUI64")
            assert chip.mac.has_eui64 == (eui64 is not None)
            if eui64:
                assert bytes(rom.read_mac("MAC_EXT")) == chip.mac.read_extension(
                    registers.__getitem__
                )


def test_esp8266_unknown_oui_reads_as_none() -> None:
    chip = get_chip("esp8266")
    registers = {chip.mac.mac0: 0, chip.mac.mac1: 0x00050000, chip.mac.mac3: 0}
    assert chip.mac.read(registers.__getitem__) is None
    with pytest.raises(esptool_util.FatalError, match="Unknown OUI"):
        _rom_with_registers("esp8266", registers).read_mac()


@pytest.mark.parametrize("name", CHIP_NAMES)
@pytest.mark.parametrize("clkdiv", [451, 347, 226, 416])
def test_crystal_as_esptool_finds_it(name: str, clkdiv: int) -> None:
    chip = get_chip(name)
    theirs = targets.CHIP_DEFS[name]
    registers = _random_registers(clkdiv)
    registers[theirs.UART_CLKDIV_REG] = (registers[theirs.UART_CLKDIV_REG] & ~0xFFFFF) | clkdiv
    rom = _rom_with_registers(name, registers)
    ours = chip.crystal.normalised_mhz(_FakePort.baudrate, registers[chip.uart_clkdiv_reg])
    assert ours == rom.get_crystal_freq()
    assert chip.uart_clkdiv_reg == theirs.UART_CLKDIV_REG


def test_esp32_rom_calibration_matches_esptool() -> None:
    chip = get_chip("esp32")
    for seed in range(20):
        registers = _random_registers(seed)
        rom = _rom_with_registers("esp32", registers)
        expected = rom.get_rom_cal_crystal_freq()
        assert chip.crystal.rom_calibration.rom_crystal_hz(registers.__getitem__) == expected


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_baud_scaling_facts(name: str, monkeypatch) -> None:
    """CHANGE_BAUDRATE's first word as esptool sends it, from our crystal facts."""
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # esptool waits after the change
    chip = get_chip(name)
    if not chip.rom.change_baudrate:
        return
    theirs = targets.CHIP_DEFS[name]
    for clkdiv in (226, 347, 416):  # 26, 40, 48 MHz at 115200 baud
        registers = _random_registers(clkdiv)
        registers[theirs.UART_CLKDIV_REG] = clkdiv
        if chip.crystal.rom_assumed_field is not None:
            field = chip.crystal.rom_assumed_field
            registers[field.address] = field.insert(0, 40 if clkdiv == 416 else 48)
        if chip.crystal.rom_calibration is not None:
            # A calibrated 8 MHz clock that makes the ROM think of about 40 or 26 MHz.
            calibration = chip.crystal.rom_calibration
            cali, ck8m = calibration.cali_field, calibration.ck8m_field
            registers[cali.address] = cali.insert(0, 1000 + clkdiv)
            registers[ck8m.address] = ck8m.insert(0, 100 if clkdiv > 300 else 66)
        rom = _rom_with_registers(name, registers)
        sent = _capture_commands(rom)
        rom._set_port_baudrate = lambda baud: None
        rom.flush_input = lambda: None
        rom.change_baud(921600)
        expected = _our_rom_baud(chip, 921600, registers)
        assert struct.unpack("<II", sent[0][1]) == (expected, 0), name


def _our_rom_baud(chip, baud: int, registers) -> int:
    crystal = chip.crystal
    if crystal.rom_calibration is not None:
        rom_hz = crystal.rom_calibration.rom_crystal_hz(registers.__getitem__)
        return int(baud * rom_hz // (40e6 if rom_hz > 33e6 else 26e6))
    actual = crystal.normalised_mhz(_FakePort.baudrate, registers[chip.uart_clkdiv_reg])
    assumed = crystal.rom_assumed_mhz
    if crystal.rom_assumed_field is not None:
        field = crystal.rom_assumed_field
        assumed = field.extract(registers[field.address])
        return baud * assumed // actual if {assumed, actual} == {40, 48} else baud
    if assumed is not None and actual == 26:
        return baud * assumed // actual
    return baud


def _capture_commands(rom) -> list[tuple[int, bytes]]:
    sent: list[tuple[int, bytes]] = []

    def check_command(description, op=None, data=b"", chk=0, resp_data_len=0, timeout=0):
        sent.append((op, data))
        return b"0" * resp_data_len if resp_data_len else 0

    rom.check_command = check_command
    rom.command = lambda op=None, data=b"", *args, **kwargs: sent.append((op, data)) or (0, b"")
    return sent


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_rom_protocol_facts_match_esptool(name: str) -> None:
    chip = get_chip(name)
    rom = _rom_with_registers(name, _random_registers(0))
    sent = _capture_commands(rom)
    rom.flash_begin(0x2000, 0x10000, logging=False)
    assert len(sent[-1][1]) == (20 if chip.rom.flash_begin_encrypted_word else 16)
    assert chip.rom.erase_size_quirk == (rom.get_erase_size(0x1000, 0x9000) != 0x9000)

    def served(call) -> bool:
        try:
            call()
        except (esptool_util.NotSupportedError, esptool_util.NotImplementedInROMError):
            return False
        return True

    assert chip.rom.flash_md5 == served(lambda: rom.flash_md5sum(0, 0x1000))
    assert chip.rom.compressed_writes == served(lambda: rom.flash_defl_begin(0x1000, 0x10, 0))
    assert chip.rom.read_flash_slow == served(lambda: rom.read_flash_slow(0, 64, None))
    sent.clear()
    rom.flash_spi_attach(0)
    assert chip.rom.spi_attach == (sent[0][0] == 0x0D)
    sent.clear()
    rom.flash_set_parameters(0x400000)
    assert chip.rom.spi_set_params == bool(sent)
    assert (chip.rom.security_info_length is not None) == theirs_security(name)
    assert chip.rom.status_length == (2 if chip.image_format == "esp8266" else 4)
    assert chip.rom.md5_hex_length == 32 and chip.rom.read_slow_block == 64


def theirs_security(name: str) -> bool:
    return targets.CHIP_DEFS[name].SECURITY_INFO_SUPPORTED


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_spi_and_watchdog_registers_match_esptool(name: str) -> None:
    chip = get_chip(name)
    theirs = targets.CHIP_DEFS[name]
    assert (chip.spi.usr_offs, chip.spi.usr1_offs, chip.spi.usr2_offs) == (
        theirs.SPI_USR_OFFS,
        theirs.SPI_USR1_OFFS,
        theirs.SPI_USR2_OFFS,
    )
    assert (chip.spi.mosi_dlen_offs, chip.spi.miso_dlen_offs) == (
        theirs.SPI_MOSI_DLEN_OFFS,
        theirs.SPI_MISO_DLEN_OFFS,
    )
    assert chip.spi.addr_msb_aligned == theirs.SPI_ADDR_REG_MSB
    assert chip.efuse_base == getattr(theirs, "EFUSE_BASE", None)
    assert chip.mac_efuse_reg == getattr(theirs, "MAC_EFUSE_REG", None)
    watchdog = chip.watchdog
    if watchdog is None:
        assert not hasattr(theirs, "RTC_CNTL_WDTCONFIG0_REG")
    else:
        assert (watchdog.wdt_config0, watchdog.wdt_config1, watchdog.wdt_protect) == (
            theirs.RTC_CNTL_WDTCONFIG0_REG,
            theirs.RTC_CNTL_WDTCONFIG1_REG,
            theirs.RTC_CNTL_WDTWPROTECT_REG,
        )
        assert watchdog.wdt_key == theirs.RTC_CNTL_WDT_WKEY
        assert watchdog.swd_config == getattr(theirs, "RTC_CNTL_SWD_CONF_REG", None)
        assert watchdog.swd_auto_feed == getattr(theirs, "RTC_CNTL_SWD_AUTO_FEED_EN", None)
        assert watchdog.swd_protect == getattr(theirs, "RTC_CNTL_SWD_WPROTECT_REG", None)
        assert watchdog.swd_key == getattr(theirs, "RTC_CNTL_SWD_WKEY", None)
    strap = chip.download_strap
    if strap is None:
        assert not hasattr(theirs, "GPIO_STRAP_SPI_BOOT_MASK")
    else:
        assert (strap.gpio_strap_reg, strap.spi_boot_mask) == (
            theirs.GPIO_STRAP_REG,
            theirs.GPIO_STRAP_SPI_BOOT_MASK,
        )
        assert (strap.option1_reg, strap.force_download_mask) == (
            theirs.RTC_CNTL_OPTION1_REG,
            theirs.RTC_CNTL_FORCE_DOWNLOAD_BOOT_MASK,
        )


@pytest.mark.parametrize("name", CHIP_NAMES)
def test_force_download_clearing_before_hard_reset(name: str, monkeypatch) -> None:
    chip = get_chip(name)
    rom = _rom_with_registers(name, _random_registers(1))
    writes: list[tuple[int, int, int]] = []
    rom.write_reg = lambda address, value, mask=0xFFFFFFFF, *a, **k: writes.append(
        (address, value, mask)
    )
    rom.uses_usb_otg = lambda: False
    rom.uses_usb_jtag_serial = lambda: False
    monkeypatch.setattr(loader.ESPLoader, "hard_reset", lambda *args, **kwargs: None)
    rom.hard_reset()
    strap = chip.download_strap
    expected = (
        [(strap.option1_reg, 0, strap.force_download_mask)]
        if strap is not None and strap.clear_force_download_on_hard_reset
        else []
    )
    assert writes == expected


def _run_updates(steps, registers, writes) -> None:
    for step in steps:
        current = registers[step.address]
        if step.value is None and (current & step.when_all_set) != step.when_all_set:
            continue
        value = (
            step.value if step.value is not None else (current & ~step.clear_bits) | step.set_bits
        )
        registers[step.address] = value & 0xFFFFFFFF
        writes.append((step.address, value & 0xFFFFFFFF))


@pytest.mark.parametrize("revision", [(3, 0), (3, 1), (3, 2), (1, 0)])
@pytest.mark.parametrize("xpd_on", [False, True])
def test_flash_power_on_steps_match_esptool(revision, xpd_on, monkeypatch) -> None:
    chip = get_chip("esp32p4")
    power = chip.flash_power_on
    p4_module = pytest.importorskip("esptool.targets.esp32p4")
    monkeypatch.setattr(p4_module, "sleep", lambda seconds: None)
    theirs_registers = _random_registers(7)
    field = power.rom_powered_field
    theirs_registers[field.address] = field.insert(theirs_registers[field.address], xpd_on)
    theirs_registers[0x5012D04C] = (revision[0] & 3) << 4 | revision[1] | (revision[0] >> 2) << 23
    for address in (0x5011_53FC, 0x5011_51B8, 0x5011_51BC):
        theirs_registers[address] |= 0x3 if address == 0x5011_53FC else 0
    ours_registers = defaultdict(int, dict(theirs_registers))
    rom = _rom_with_registers("esp32p4", theirs_registers)
    theirs: list[tuple[int, int]] = []

    def write_reg(address, value, mask=0xFFFFFFFF, *args, **kwargs):
        theirs.append((address, value & 0xFFFFFFFF))
        theirs_registers[address] = value & 0xFFFFFFFF

    rom.write_reg = write_reg
    rom.power_on_flash()
    ours: list[tuple[int, int]] = []
    full = chip.revision.read(ours_registers.__getitem__)
    full = full[0] * 100 + full[1]
    if full in power.rom_powered_revisions and field.extract(ours_registers[field.address]):
        _run_updates(power.rom_powered_steps, ours_registers, ours)
    elif full in power.revisions:
        _run_updates(power.steps, ours_registers, ours)
    assert ours == theirs
    assert bool(theirs) == (full in power.revisions)  # the cases that do something


def test_security_capabilities_are_the_chips_espefuse_serves() -> None:
    """Flash encryption and secure boot are eFuse features: a chip has them exactly where it
    has an eFuse table (every chip espefuse 5.6 supports; not the ESP8266)."""
    assert {c.name for c in all_chips() if c.flash_encryption} == set(table_chips())
    assert {c.name for c in all_chips() if c.secure_boot} == set(table_chips())


def test_esp_idf_layout_is_where_images_name_their_chip() -> None:

    for chip in all_chips():
        assert chip.esp_idf_layout == (chip.image_chip_id is not None), chip.name
