"""ESP32: facts as data (esptool 5.6's target description, the reference pages)."""

from espforge.chips.base import (
    STANDARD_FLASH_SIZES,
    BootMessages,
    ChipRevisionFields,
    ChipSpec,
    CrystalFacts,
    EfuseMac,
    MemoryRegion,
    RegisterField,
    RomProtocol,
    SpiRegisters,
    frozen_map,
)
from espforge.chips.crystal import RtcCalibration

EFUSE_READ_BASE = 0x3FF5A000  # eFuse block 0, word n at + 4 * n
APB_CTL_DATE = 0x3FF6607C

CHIP = ChipSpec(
    name="esp32",
    chip_name="ESP32",
    image_format="esp32",
    image_chip_id=0x0,
    uses_magic_value=True,
    magic_value=0xF01D83,
    bootloader_flash_offset=0x1000,
    uf2_family_id=0x1C5F21B0,
    flash_sizes=STANDARD_FLASH_SIZES,
    flash_frequencies=frozen_map({"80m": 0xF, "40m": 0x0, "26m": 0x1, "20m": 0x2}),
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x3F400000, 0x3F800000, "DROM"),
        MemoryRegion(0x3F800000, 0x3FC00000, "EXTRAM_DATA"),
        MemoryRegion(0x3FF80000, 0x3FF82000, "RTC_DRAM"),
        MemoryRegion(0x3FF90000, 0x40000000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x3FFAE000, 0x40000000, "DRAM"),
        MemoryRegion(0x3FFE0000, 0x3FFFFFFC, "DIRAM_DRAM"),
        MemoryRegion(0x40000000, 0x40070000, "IROM"),
        MemoryRegion(0x40070000, 0x40078000, "CACHE_PRO"),
        MemoryRegion(0x40078000, 0x40080000, "CACHE_APP"),
        MemoryRegion(0x40080000, 0x400A0000, "IRAM"),
        MemoryRegion(0x400A0000, 0x400BFFFC, "DIRAM_IRAM"),
        MemoryRegion(0x400C0000, 0x400C2000, "RTC_IRAM"),
        MemoryRegion(0x400D0000, 0x40400000, "IROM"),
        MemoryRegion(0x50000000, 0x50002000, "RTC_DATA"),
    ),
    irom_map=(0x400D0000, 0x40400000),
    drom_map=(0x3F400000, 0x3F800000),
    spi=SpiRegisters(
        base=0x3FF42000,
        usr_offs=0x1C,
        usr1_offs=0x20,
        usr2_offs=0x24,
        w0_offs=0x80,
        mosi_dlen_offs=0x28,
        miso_dlen_offs=0x2C,
    ),
    uart_date_reg=0x60000078,
    uart_clkdiv_reg=0x3FF40014,
    efuse_base=None,
    mac_efuse_reg=None,
    security_info_supported=False,
    usb_otg_supported=False,
    usb_serial_jtag_supported=False,
    watchdog_reset_supported=False,
    flash_encrypted_write_align=0x20,
    flash_segment_min_page_tail=0x24,
    secure_boot_v1=True,
    rom=RomProtocol(
        status_length=4,
        flash_begin_encrypted_word=False,
        compressed_writes=True,
        flash_md5=True,
        read_flash_slow=True,
        change_baudrate=True,
        spi_attach=True,
        spi_set_params=True,
        security_info_length=None,
    ),
    mac=EfuseMac(low_word=EFUSE_READ_BASE + 4, high_word=EFUSE_READ_BASE + 8),
    revision=ChipRevisionFields(
        # Three scattered bits make a code: APB_CTL_DATE bit 31, word 5 bit 20, word 3 bit 15.
        major=(
            RegisterField(APB_CTL_DATE, 31, 1),
            RegisterField(EFUSE_READ_BASE + 20, 20, 1),
            RegisterField(EFUSE_READ_BASE + 12, 15, 1),
        ),
        minor=(RegisterField(EFUSE_READ_BASE + 20, 24, 2),),
        major_by_code={0: 0, 1: 1, 3: 2, 7: 3},
    ),
    crystal=CrystalFacts(
        fixed_mhz=None,
        rom_calibration=RtcCalibration(
            cali_field=RegisterField(0x3FF5F06C, 7, 25),
            ck8m_field=RegisterField(EFUSE_READ_BASE + 16, 0, 8),
        ),
    ),
    factory_efuses=(
        (RegisterField(EFUSE_READ_BASE + 12, 13, 1), 1),  # CHIP_CPU_FREQ_RATED: 240 MHz rated
        (RegisterField(EFUSE_READ_BASE + 16, 8, 5), 5),  # ADC_VREF: +35 mV, a calibrated part
    ),
    boot_messages=BootMessages(
        header="ets Jun  8 2016 00:22:57\r\n\r\n",
        reset_cause="rst:0x1 (POWERON_RESET)",
        download_mode="boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))",
        flash_mode="boot:0x13 (SPI_FAST_FLASH_BOOT)",
        flash_preamble=(
            "configsip: 0, SPIWP:0xee\r\n"
            "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
            "mode:DIO, clock div:2\r\n"
        ),
        load_line="load:{address:#010x},len:{length}\r\n",
        no_image="flash read err, 1000\r\nets_main.c 371 \r\n",
    ),
)
