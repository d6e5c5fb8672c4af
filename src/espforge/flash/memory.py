"""RAM, registers and identity through the ROM bootloader: the device commands that are not
about flash (read-mem, write-mem, dump-mem, load-ram, run, read-mac, chip-id), sharing the flash
operations' `Device` and progress events.
"""

from __future__ import annotations

from espforge.chips.base import OtpMac
from espforge.flash.compatibility import image_incompatibility
from espforge.flash.device import Device
from espforge.flash.progress import Operation
from espforge.image.firmware import load_image
from espforge.logs import library_logger

log = library_logger(__name__)

WORD = 4
PROGRESS_STEP = 1024


def read_mem(device: Device, address: int) -> int:
    return device.loader.read_reg(address)


def write_mem(device: Device, address: int, value: int, mask: int = 0xFFFFFFFF) -> None:
    device.loader.write_reg(address, value, mask)


def dump_mem(device: Device, address: int, size: int) -> bytes:
    """`size` bytes of memory from `address` (whole words: a remainder is not read), read a
    32-bit word at a time."""
    size -= size % WORD
    words = []
    with device.progress.task(Operation.DUMP_MEM, size, f"Dumping from {address:#010x}") as task:
        for offset in range(0, size, WORD):
            words.append(device.loader.read_reg(address + offset).to_bytes(WORD, "little"))
            done = offset + WORD
            if done % PROGRESS_STEP == 0 or done == size:
                task.update(done, f"Dumping from {address + offset:#010x}")
    return b"".join(words)


def load_ram(device: Device, image_data: bytes, source: str = "image") -> int:
    """Load a firmware image's segments into RAM and start it; returns its entry point.

    The chip runs the image as soon as it has it, so the ROM may not answer the last command.
    """
    image = load_image(image_data, device.chip, source, check_chip_id=False)
    if device.chip.image_chip_id is not None:
        problem = image_incompatibility(
            device.chip, image_data, source, device.loader.chip_revision
        )
        if problem is not None:
            log.warning(f"{problem}. The loaded image may not run.")
    block_size = device.loader.ram_block_size
    log.info(f"Loading '{source}' to RAM...")
    segments = len(image.segments)
    with device.progress.task(Operation.LOAD_RAM, segments, f"Loading '{source}'") as task:
        for number, segment in enumerate(image.segments, start=1):
            size = len(segment.data)
            task.update(number - 1, f"Downloading {size} bytes at {segment.load_address:#010x}")
            blocks = -(-size // block_size)
            device.loader.mem_begin(size, blocks, block_size, segment.load_address)
            for seq, offset in enumerate(range(0, size, block_size)):
                device.loader.mem_block(segment.data[offset : offset + block_size], seq)
            task.update(number, f"Downloaded {size} bytes at {segment.load_address:#010x}")
    log.info(
        f"Loaded {len(image.segments)} segments from '{source}' to RAM, executing at "
        f"{image.entry_point:#010x}."
    )
    device.loader.mem_finish(image.entry_point)
    return image.entry_point


def run_user_code(device: Device) -> None:
    """Leave the bootloader and start the application in flash (a ROM: an empty FLASH_BEGIN,
    then FLASH_END asking to run user code; a stub: RUN_USER_CODE)."""
    device.loader.soft_reset(stay_in_bootloader=False)


def mac_addresses(device: Device) -> list[tuple[str, bytes]]:
    """The MACs read-mac shows: the base MAC, and on chips with an EUI-64 also that and its
    two extension bytes."""
    base = device.loader.read_mac()
    extension = device.loader.read_mac_extension()
    if extension is None:
        return [("MAC", base)]
    eui64 = base[:3] + extension + base[3:]
    return [("MAC", eui64), ("BASE MAC", base), ("MAC_EXT", extension)]


def format_mac(mac: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in mac)


def chip_id(device: Device) -> int | None:
    """The chip id the ESP8266 SDK reports (from its OTP MAC words); None on chips without one."""
    mac = device.chip.mac
    if not isinstance(mac, OtpMac):
        return None
    low, high = device.loader.read_reg(mac.mac0), device.loader.read_reg(mac.mac1)
    return (low >> 24) | ((high & 0xFFFFFF) << 8)
