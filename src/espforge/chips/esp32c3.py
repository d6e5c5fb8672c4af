"""ESP32-C3: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-C3 shares the ESP32's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32
from espforge.chips.base import (
    ChipRevisionFields,
    CrystalFacts,
    EfuseMac,
    MemoryRegion,
    RegisterField,
    SpiRegisters,
    WatchdogRegisters,
    rom_boot_messages,
)
from espforge.chips.cpu_map import CpuMemoryMap

BLOCK1 = 0x60008844  # eFuse block 1, word n at + 4 * n
RTC_CNTL = 0x60008000

CHIP = replace(
    esp32.CHIP,
    name="esp32c3",
    chip_name="ESP32-C3",
    image_chip_id=0x5,
    uses_magic_value=False,
    magic_value=None,
    bootloader_flash_offset=0x0,
    uf2_family_id=0xD42BA06C,
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x3C000000, 0x3C800000, "DROM"),
        MemoryRegion(0x3FC80000, 0x3FCE0000, "DRAM"),
        MemoryRegion(0x3FC88000, 0x3FD00000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x3FF00000, 0x3FF20000, "DROM_MASK"),
        MemoryRegion(0x40000000, 0x40060000, "IROM_MASK"),
        MemoryRegion(0x42000000, 0x42800000, "IROM"),
        MemoryRegion(0x4037C000, 0x403E0000, "IRAM"),
        MemoryRegion(0x50000000, 0x50002000, "RTC_IRAM"),
        MemoryRegion(0x50000000, 0x50002000, "RTC_DRAM"),
        MemoryRegion(0x600FE000, 0x60100000, "MEM_INTERNAL2"),
    ),
    irom_map=(0x42000000, 0x42800000),
    drom_map=(0x3C000000, 0x3C800000),
    spi=SpiRegisters(
        base=0x60002000,
        usr_offs=0x18,
        usr1_offs=0x1C,
        usr2_offs=0x20,
        w0_offs=0x58,
        mosi_dlen_offs=0x24,
        miso_dlen_offs=0x28,
        addr_msb_aligned=False,
    ),
    uart_date_reg=0x6000007C,
    uart_clkdiv_reg=0x60000014,
    efuse_base=0x60008800,
    mac_efuse_reg=0x60008844,
    security_info_supported=True,
    usb_serial_jtag_supported=True,
    watchdog_reset_supported=True,
    flash_encrypted_write_align=0x10,
    flash_segment_min_page_tail=0x0,
    secure_boot_v1=False,
    rom=replace(esp32.CHIP.rom, flash_begin_encrypted_word=True, security_info_length=20),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 20, 24, 2),),
        minor=(RegisterField(BLOCK1 + 20, 23, 1), RegisterField(BLOCK1 + 12, 18, 3)),
    ),
    crystal=CrystalFacts(fixed_mhz=40),
    watchdog=WatchdogRegisters(
        wdt_config0=RTC_CNTL + 0x90,
        wdt_config1=RTC_CNTL + 0x94,
        wdt_protect=RTC_CNTL + 0xA8,
        swd_config=RTC_CNTL + 0xAC,
        swd_auto_feed=1 << 31,
        swd_protect=RTC_CNTL + 0xB0,
        swd_key=0x8F1D312A,
    ),
    boot_messages=rom_boot_messages(
        "esp32c3-api1-20210207",
        "Feb  7 2021",
        "boot:0x5 (DOWNLOAD(USB/UART0/1))",
        "boot:0xc (SPI_FAST_FLASH_BOOT)",
    ),
)

# The CPU's view, for the emulated flasher stub (virtual/cpu). Memory map: esp-idf
# soc/esp32c3/include/soc/soc.h and bootloader.memory.ld.in; the SRAM at 0x3FC80000 (data bus)
# is the same 384 KB as 0x40380000 (instruction bus). ROM functions: esp-idf
# components/esp_rom/esp32c3/ld/esp32c3.rom*.ld and esp-stub-lib's esp32c3.rom.extra.ld
# (GetSecurityInfoProc moved in ECO 7).
CPU_MAP = CpuMemoryMap(
    rom=(0x40000000, 0x40060000),
    sram_data=(0x3FC80000, 0x3FCE0000),
    sram_instruction_base=0x40380000,
    peripherals=(0x60000000, 0x600D0000),
    rom_stack_top=0x3FCDE710,  # SOC_ROM_STACK_START
    eco_version_word=0x40000014,  # _rom_eco_version (esp32c3.rom.version.ld)
    rom_flash_pointer=0x3FCDFFF0,
    uart0=0x60000000,
    spi1=0x60002000,
    rom_functions={
        "ets_delay_us": 0x40000050,
        "uart_tx_one_char": 0x40000068,
        "uart_rx_one_char": 0x40000070,
        "uart_tx_flush": 0x40000080,
        "uart_tx_wait_idle": 0x40000084,
        "uart_div_modify": 0x40000088,
        "software_reset": 0x40000090,
        "GetUartDevice": 0x400000B0,
        "ets_set_user_start": 0x400000BC,
        "tinfl_decompress": 0x400000F4,
        "esp_rom_spiflash_write_encrypted": 0x40000110,
        "esp_rom_spiflash_erase_chip": 0x40000120,
        "esp_rom_spiflash_erase_block": 0x40000124,
        "esp_rom_spiflash_erase_sector": 0x40000128,
        "esp_rom_spiflash_write": 0x4000012C,
        "esp_rom_spiflash_read": 0x40000130,
        "esp_rom_spiflash_config_param": 0x40000134,
        "esp_rom_spiflash_unlock": 0x40000140,
        "esp_rom_spi_flash_update_id": 0x4000014C,
        "esp_rom_spiflash_read_statushigh": 0x4000015C,
        "esp_rom_spiflash_write_status": 0x40000160,
        "esp_rom_spiflash_attach": 0x40000164,
        "SPI_write_enable": 0x40000210,
        "memset": 0x40000354,
        "memcpy": 0x40000358,
        "memmove": 0x4000035C,
        "ets_get_apb_freq": 0x40000580,
        "ets_update_cpu_frequency": 0x40000588,
        "ets_get_xtal_freq": 0x40000598,
        "gpio_pad_select_gpio": 0x400005C8,
        "esprv_intc_int_set_priority": 0x400005E0,
        "intr_matrix_set": 0x400005F4,
        "ets_isr_attach": 0x40000604,
        "ets_isr_mask": 0x40000608,
        "ets_isr_unmask": 0x4000060C,
        "MD5Init": 0x40000614,
        "MD5Update": 0x40000618,
        "MD5Final": 0x4000061C,
        "ets_efuse_get_spiconfig": 0x4000071C,
        "GetSecurityInfoProc_eco0": 0x4004B9DA,
        "GetSecurityInfoProc": 0x4004D51E,  # ECO >= 7
    },
)
