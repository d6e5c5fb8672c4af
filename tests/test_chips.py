"""Chip facts agree with esptool 5.6's target descriptions (test-only oracle)."""

from __future__ import annotations

import pytest

from espforge.chips import CHIP_NAMES, chip_by_image_id, get_chip
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
