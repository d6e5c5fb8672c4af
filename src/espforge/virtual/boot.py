"""What ESP-IDF's second-stage bootloader does once the ROM has started it, on a virtual chip.

On a reset into normal boot, after the ROM loaded the bootloader image, the bootloader reads the
partition table, prints it, reads the OTA data, picks the app to start (the rules of
`espforge.image.otadata.select_boot_partition`), checks that app's image and falls back to the
next candidate when it fails, then prints `Loaded app from partition at offset 0x...` or why
nothing could boot. The lines follow the ESP-IDF bootloader's wording; the timestamps are made up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from espforge.chips import ChipSpec
from espforge.errors import ImageError
from espforge.image.firmware import IMAGE_MAGIC, load_image
from espforge.image.info import describe_image
from espforge.image.otadata import (
    OTADATA_SECTOR_SIZE,
    OtaRecord,
    read_records,
    select_boot_partition,
)
from espforge.image.partition_table import (
    APP,
    DATA,
    DEFAULT_TABLE_OFFSET,
    ENTRY_MAGIC,
    MAX_TABLE_LENGTH,
    Partition,
    PartitionTable,
    parse_binary,
    subtype_name,
)
from espforge.virtual.nor_flash import NorFlash

Reader = Callable[[int, int], bytes]  # (offset, size) -> bytes of flash, fewer at its end

_DATA_USAGE = {
    "ota": "OTA data",
    "phy": "RF data",
    "nvs": "WiFi data",
    "nvs_keys": "NVS keys",
    "efuse": "efuse",
}
_FIRST_TIMESTAMP = 27  # ms since reset shown on the first line; each line adds a few more
_TIMESTAMP_STEP = 4


@dataclass
class _Log:
    """ESP-IDF log lines: "I (31) boot: ..."."""

    lines: list[str] = field(default_factory=list)

    def add(self, level: str, tag: str, text: str) -> None:
        stamp = _FIRST_TIMESTAMP + _TIMESTAMP_STEP * len(self.lines)
        self.lines.append(f"{level} ({stamp}) {tag}: {text}")

    def info(self, text: str, tag: str = "boot") -> None:
        self.add("I", tag, text)

    def error(self, text: str, tag: str = "boot") -> None:
        self.add("E", tag, text)


@dataclass(frozen=True)
class BootOutcome:
    """What the second-stage bootloader did: the app it started (None: none), its output, and
    the OTA data records it rewrote (flash address, record) when built with app rollback."""

    partition: Partition | None
    lines: tuple[str, ...]
    otadata_writes: tuple[tuple[int, OtaRecord], ...] = ()

    @property
    def text(self) -> str:
        return "".join(f"{line}\r\n" for line in self.lines)


def boot_from_flash(chip: ChipSpec, flash: NorFlash, rollback: bool = False) -> BootOutcome:
    """The bootloader's run over a virtual chip's flash, OTA data rewrites included."""

    def read(offset: int, size: int) -> bytes:
        return flash.read(offset, max(0, min(size, flash.size - offset)))

    outcome = second_stage_boot(chip, read, rollback=rollback)
    for address, record in outcome.otadata_writes:
        flash.erase(address, OTADATA_SECTOR_SIZE)
        flash.program(address, record.pack())
    return outcome


def second_stage_boot(
    chip: ChipSpec,
    read: Reader,
    table_offset: int = DEFAULT_TABLE_OFFSET,
    *,
    rollback: bool = False,
) -> BootOutcome:
    """Run the bootloader's choice of app over the flash `read` gives access to; `rollback` is
    ESP-IDF's CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE."""
    log = _Log()
    _banner(chip, read, table_offset, log)
    table = _table(read, table_offset, log)
    if table is None:
        return BootOutcome(None, tuple(log.lines))
    _print_table(table, log)
    otadata_partition = table.otadata()
    otadata = None
    if otadata_partition is not None:
        otadata = read(otadata_partition.offset, otadata_partition.size)
    selection = select_boot_partition(table, otadata, rollback=rollback)
    writes = _otadata_writes(otadata_partition, otadata, selection.rewrites, log)
    if selection.partition is None:
        log.error("No bootable app partitions in the partition table")
        return BootOutcome(None, tuple(log.lines), writes)
    log.info(f"Boot order decided: {selection.reason}")
    for candidate in selection.candidates:
        problem = image_problem(chip, read(candidate.offset, candidate.size))
        if problem is None:
            log.info(f"Loaded app from partition at offset {candidate.offset:#x}")
            return BootOutcome(candidate, tuple(log.lines), writes)
        log.error(f"image at {candidate.offset:#x} {problem}", tag="esp_image")
        log.error(f"{_role(candidate)} app partition '{candidate.name}' is not bootable")
    log.error("No bootable app partitions in the partition table")
    return BootOutcome(None, tuple(log.lines), writes)


def _otadata_writes(
    partition: Partition | None,
    otadata: bytes | None,
    rewrites: tuple[tuple[int, OtaRecord], ...],
    log: _Log,
) -> tuple[tuple[int, OtaRecord], ...]:
    """Where the rollback rewrites go, each logged as the state change it makes."""
    if partition is None or otadata is None:
        return ()
    old = read_records(otadata)
    for sector, record in rewrites:
        log.info(f"otadata[{sector}]: state {old[sector].state_name} -> {record.state_name}")
    return tuple(
        (partition.offset + sector * OTADATA_SECTOR_SIZE, record) for sector, record in rewrites
    )


def _banner(chip: ChipSpec, read: Reader, table_offset: int, log: _Log) -> None:
    """The first lines: the ESP-IDF version and build time the bootloader's descriptor holds."""
    offset = chip.bootloader_flash_offset
    try:
        report = describe_image(read(offset, table_offset - offset), chip.name, "bootloader")
    except ImageError:
        report = None
    descriptor = report.bootloader_descriptor if report is not None else None
    if descriptor is None:
        log.info("ESP-IDF 2nd stage bootloader (espforge virtual chip)")
        return
    log.info(f"ESP-IDF {descriptor.idf_version} 2nd stage bootloader")
    log.info(f"compile time {descriptor.date_time}")


def _table(read: Reader, offset: int, log: _Log) -> PartitionTable | None:
    data = read(offset, MAX_TABLE_LENGTH)
    try:
        if data[:2] != ENTRY_MAGIC:  # the bootloader wants at least one entry
            magic = int.from_bytes(data[:2], "little")
            raise ImageError(f"partition 0 invalid magic number {magic:#x}")
        return parse_binary(data, table_offset=offset, source=f"partition table at {offset:#x}")
    except ImageError as error:
        log.error(str(error), tag="flash_parts")
        log.error("Failed to verify partition table")
        return None


def _print_table(table: PartitionTable, log: _Log) -> None:
    log.info("Partition Table:")
    log.info("## Label            Usage          Type ST Offset   Length")
    for index, partition in enumerate(table):
        log.info(
            f"{index:2d} {partition.name:<16} {_usage(partition):<16} {partition.type:02x} "
            f"{partition.subtype:02x} {partition.offset:08x} {partition.size:08x}"
        )
    log.info("End of partition table")


def _usage(partition: Partition) -> str:
    name = subtype_name(partition.type, partition.subtype)
    if partition.type == APP:
        return f"{name} app" if name in ("factory", "test") else "OTA app"
    if partition.type == DATA:
        return _DATA_USAGE.get(name or "", "unknown")
    return "unknown"


def _role(partition: Partition) -> str:
    return "OTA" if partition.is_ota_app else (partition.subtype_label.capitalize())


def image_problem(chip: ChipSpec, data: bytes) -> str | None:
    """Why the bootloader would refuse the app image at the start of `data` (None: it boots),
    in the words of ESP-IDF's image loader."""
    if data[:1] != bytes([IMAGE_MAGIC]):
        return "has invalid magic byte (nothing flashed here?)"
    try:
        image = load_image(data, chip, "app", check_chip_id=False)
    except ImageError as error:
        return f"is not a valid image ({str(error).removeprefix('app: ')})"
    header = image.extended_header
    if header is not None and header.chip_id != chip.image_chip_id:
        return f"has mismatch chip ID, expected {chip.image_chip_id}, found {header.chip_id}"
    if not image.checksum_valid:
        return (
            f"failed its checksum: calculated {image.computed_checksum:#04x}, "
            f"read {image.stored_checksum:#04x}"
        )
    if image.sha256_valid is False:
        return "failed its hash check: image is corrupt"
    return None
