"""A chip in download mode as the flash operations see it: its flash chip, size and checksums.

`Device` wraps the bootloader client (`Loader`, ROM or flasher stub) with what every flash
operation needs first: attaching the SPI flash, its JEDEC id and size, telling the chip that
size, MD5 digests, and the security state that decides what may be done. Operations live in
the sibling modules (`write`, `read`, `erase`, `memory`); `open_device` connects and hands back
a `Device`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace

from espforge.chips import ChipSpec
from espforge.errors import (
    EspforgeError,
    NotSupportedError,
    ProtocolError,
    SecureDownloadModeError,
)
from espforge.flash.flash_id import XMC_VENDOR_ID, FlashId
from espforge.flash.progress import ProgressBus
from espforge.image.flash_params import flash_size_bytes
from espforge.logs import library_logger
from espforge.protocol import connect as connecting
from espforge.protocol import resets
from espforge.protocol.baud import sync_baud
from espforge.protocol.connect import ConnectOptions
from espforge.protocol.loader import Loader
from espforge.protocol.security import SecurityInfo
from espforge.protocol.stub import reconnect as reconnect_loader
from espforge.protocol.stub import run_flasher_stub
from espforge.protocol.stub_image import StubSource

log = library_logger(__name__)

ROM_ADDRESS_LIMIT = 0x1000000  # ROMs address at most 16 MB of flash
FALLBACK_FLASH_SIZE = "4MB"  # what "detect" means when the flash id does not say
SDM_ERASE_FLASH_SIZE = "16MB"  # covers most flash chips when Secure Download Mode hides the id

SFDP_SIGNATURE = 0x50444653  # "SFDP", little-endian, at SFDP address 0
SFDP_MANUFACTURER_ADDRESS = 0x10
RDID = 0x9F  # SPI flash opcode: read the JEDEC id
# SPI flash opcodes esptool sends while attaching: XMC wake-up and a software reset.
_XMC_STARTUP_SEQUENCE = (0xB9, 0x79, 0xFF)  # deep power-down, ultra deep power-down, exit
_RELEASE_POWER_DOWN = 0xAB
_RESET_ENABLE, _RESET = 0x66, 0x99
# XMC parts that start up cleanly: memory type -> accepted capacity bytes.
_XMC_GOOD_PARTS = {0x40: range(0x13, 0x21), 0x41: range(0x17, 0x21), 0x50: range(0x15, 0x17)}

SpiConnection = str | tuple[int, int, int, int, int]


class Device:
    """A connected chip's bootloader, with the flash facts it has learnt cached."""

    def __init__(
        self,
        loader: Loader,
        progress: ProgressBus | None = None,
        before: str = "default-reset",
        connect_attempts: int = 7,
    ) -> None:
        self.loader = loader
        self.progress = progress if progress is not None else ProgressBus(loader.port_name)
        self.progress.identify(loader.chip.chip_name)
        self.before = before  # how to get the chip back into download mode when it is lost
        self.connect_attempts = connect_attempts
        self._flash_id: FlashId | None = None
        self._attach_word: int | None = None
        self._configured_size: int | None = None

    @property
    def chip(self) -> ChipSpec:
        return self.loader.chip

    @property
    def port_name(self) -> str:
        return self.progress.identity.port

    @property
    def secure_download_mode(self) -> bool:
        return bool(self.loader.secure_download_mode)

    # What the dialect in use offers: a stub has all of these, ROMs some.
    @property
    def can_compress(self) -> bool:
        return self.loader.dialect.compressed_writes

    @property
    def can_md5(self) -> bool:
        return self.loader.dialect.flash_md5

    @property
    def can_read(self) -> bool:
        return self.loader.dialect.can_read

    # ------------------------------------------------------------------ flasher stub

    def start_stub(self, source: StubSource, baud: int) -> None:
        """Run the flasher stub from `source` (or keep using one left running), then switch
        the link to `baud`; without a stub, or when it does not start, the ROM carries on."""
        run_flasher_stub(self.loader, source, self.before, self.connect_attempts)
        connecting.raise_baud(self.loader, baud)

    # ------------------------------------------------------------------ flash chip

    def flash_id(self, fresh: bool = False) -> FlashId:
        """The flash chip's JEDEC id (asked once, then remembered unless `fresh`)."""
        if fresh or self._flash_id is None:
            self.refuse_in_secure_download_mode("Reading the flash id")
            self._flash_id = FlashId(self.loader.run_spiflash_command(RDID, read_bits=24))
        return self._flash_id

    def detected_flash_size(self) -> str | None:
        """The flash size the flash id implies ("4MB"), or None when it does not say."""
        return self.flash_id().size_name

    def attach_flash(self, spi_connection: SpiConnection | None = None) -> None:
        """Connect the ROM to the flash chip and check that it answers, as esptool does.

        `spi_connection` is "SPI" (the default pins), "HSPI" (ESP32) or the five GPIOs
        (CLK, Q, D, HD, CS) of a custom wiring.
        """
        if spi_connection is None:
            log.info("Enabling default SPI flash mode...")
        else:
            log.info(f"Configuring SPI NOR flash mode ({_describe_wiring(spi_connection)})...")
        self._attach_word = _attach_word(spi_connection)
        self.loader.spi_attach(self._attach_word)
        if self.secure_download_mode:
            return
        self._wake_xmc_flash()
        if not self._flash_answers():
            log.warning(
                "Failed to communicate with the flash chip, read/write operations will fail. "
                "Try checking the chip connections or removing any other hardware connected "
                "to IOs."
            )
        self._reset_flash_chip()

    def configure_flash_size(self, flash_size: str) -> str:
        """Tell the ROM the flash size (SPI_SET_PARAMS) and return what was chosen.

        "detect" asks the flash id (falling back to 4MB), "keep" configures the detected size
        but leaves image headers alone (it stays "keep"), anything else is taken as given.
        """
        log.info("Configuring flash size...")
        size_to_set: str | None = flash_size
        if flash_size == "detect":
            size_to_set = self.detected_flash_size()
            if size_to_set is None:
                log.warning(
                    f"Could not auto-detect flash size, defaulting to {FALLBACK_FLASH_SIZE}."
                )
                size_to_set = FALLBACK_FLASH_SIZE
            else:
                log.info(f"Auto-detected flash size: {size_to_set}")
        elif flash_size == "keep":
            size_to_set = None if self.secure_download_mode else self.detected_flash_size()
            log.info("Note: In case of failure, please set a specific flash size.")
        if size_to_set is not None:
            self.set_flash_size(flash_size_bytes(size_to_set))
            if flash_size_bytes(size_to_set) > ROM_ADDRESS_LIMIT:
                log.info(
                    "Note: Flash sizes larger than 16MB are not fully supported. "
                    "Change the flash size argument in case of a failure."
                )
        return "keep" if flash_size == "keep" else (size_to_set or flash_size)

    def set_flash_size(self, size: int) -> None:
        """Tell the ROM the flash holds `size` bytes (it assumes 2MB until told)."""
        self.loader.spi_set_params(size)
        self._configured_size = size

    def reconnect(self, reopen_port: bool = False) -> None:
        """Get a chip that reset or dropped off the link back: reopen the port (when it
        failed), reset into download mode and sync as at first, then attach the flash and set
        its size again (a reset forgets both). A flasher stub is started again."""
        reconnect_loader(self.loader, self.before, self.connect_attempts, reopen_port)
        if self._attach_word is not None:
            self.loader.spi_attach(self._attach_word)
        if self._configured_size is not None:
            self.loader.spi_set_params(self._configured_size)

    def check_access(self, address: int, size: int) -> None:
        """Refuse a read or erase the ROM cannot address or that ends past the flash."""
        if address + size > ROM_ADDRESS_LIMIT:
            raise EspforgeError(
                f"Can't access flash regions larger than 16MB (set size {size:#x} from address "
                f"{address:#010x} goes past 16MB by {address + size - ROM_ADDRESS_LIMIT:#x} "
                "bytes)."
            )
        if self.secure_download_mode:
            return
        detected = self.detected_flash_size()
        if detected is not None and address + size > flash_size_bytes(detected):
            raise EspforgeError(
                f"Can't access flash regions larger than detected flash size (set size "
                f"{size:#x} from address {address:#010x} goes past {detected} by "
                f"{address + size - flash_size_bytes(detected):#x} bytes)."
            )

    def flash_md5(self, address: int, size: int) -> str:
        """MD5 of `size` bytes of flash from `address`, as lowercase hex."""
        if not self.can_md5:
            raise NotSupportedError(
                f"the {self.chip.chip_name} ROM cannot compute a flash MD5; this needs the "
                "flasher stub (give --stub-file or a stub directory)"
            )
        try:
            return self.loader.flash_md5(address, size).hex()
        except ProtocolError:  # a lost reply: asking again changes nothing on the chip
            log.debug("No MD5 reply; asking once more.")
            return self.loader.flash_md5(address, size).hex()

    # ------------------------------------------------------------------ security

    def security_info(self) -> SecurityInfo | None:
        """The ROM's GET_SECURITY_INFO answer, or None when the ROM lacks the command."""
        if self.chip.rom.security_info_length is None:
            return None
        return self.loader.security_info()

    def secure_boot_enabled(self) -> bool:
        info = self.security_info()
        return info is not None and info.flag("SECURE_BOOT_EN")

    def flash_encryption_enabled(self) -> bool:
        info = self.security_info()
        return info is not None and info.flash_encryption_enabled

    def refuse_in_secure_download_mode(self, what: str) -> None:
        if self.secure_download_mode:
            raise SecureDownloadModeError(f"{what} is not possible in Secure Download Mode.")

    # ------------------------------------------------------------------ helpers

    def _flash_answers(self) -> bool:
        if self.loader.read_flash_sfdp(0, 4) == SFDP_SIGNATURE:
            return True
        return self.flash_id(fresh=True).answered

    def _wake_xmc_flash(self) -> None:
        """Some XMC flash chips need a power-down/up cycle before they answer (esptool's fix)."""
        if _is_good_xmc_part(self.flash_id(fresh=True)):
            return
        if self.loader.read_flash_sfdp(SFDP_MANUFACTURER_ADDRESS, 1) != XMC_VENDOR_ID:
            return
        log.warning("XMC flash chip boot-up failure detected! Running XMC25QHxxC startup flow.")
        for opcode in _XMC_STARTUP_SEQUENCE:
            self.loader.run_spiflash_command(opcode)
        time.sleep(0.002)
        self.loader.run_spiflash_command(_RELEASE_POWER_DOWN)
        time.sleep(0.00002)
        if _is_good_xmc_part(self.flash_id(fresh=True)):
            log.info("XMC flash chip boot-up fix successful!")
        else:
            log.warning(
                "Could not confirm XMC flash chip boot-up fix. The flash chip may not work."
            )

    def _reset_flash_chip(self) -> None:
        """Clear whatever state a running application left the flash in."""
        try:
            self.loader.run_spiflash_command(_RESET_ENABLE)
            self.loader.run_spiflash_command(_RESET)
            time.sleep(0.001)
        except EspforgeError as error:
            log.debug("Unable to reset flash chip (%s).", error)


def _attach_word(spi_connection: SpiConnection | None) -> int:
    """SPI_ATTACH's pin word: 0 default pins, 1 HSPI, else 6 bits per pin CLK, Q, D, CS, HD."""
    if spi_connection is None or spi_connection == "SPI":
        return 0
    if spi_connection == "HSPI":
        return 1
    clk, q, d, hd, cs = spi_connection
    return (hd << 24) | (cs << 18) | (d << 12) | (q << 6) | clk


def _describe_wiring(spi_connection: SpiConnection) -> str:
    if isinstance(spi_connection, str):
        return spi_connection
    names = ("CLK", "Q", "D", "HD", "CS")
    return ", ".join(f"{name}:{pin}" for name, pin in zip(names, spi_connection, strict=True))


def _is_good_xmc_part(flash_id: FlashId) -> bool:
    if flash_id.manufacturer != XMC_VENDOR_ID:
        return False
    memory_type, capacity = flash_id.device >> 8, flash_id.device & 0xFF
    return capacity in _XMC_GOOD_PARTS.get(memory_type, ())


@contextmanager
def open_device(
    connection: ConnectOptions,
    after: str | None = "hard-reset",
    stub: StubSource | None = None,
) -> Iterator[Device]:
    """Connect as `connection` says (no port: the first port where a chip answers) and yield
    the device.

    With a `stub` source the flasher stub is started (see `Device.start_stub`); None talks to
    the ROM bootloader only (--no-stub).

    On leaving, the chip is reset as `after` says (None: left as it is, e.g. running code
    loaded into RAM) - also after an error, as esptool does, when the link still allows it -
    and the port is closed.
    """
    # A stub changes the baud rate itself, once it runs (as esptool does).
    baud, before = connection.baud, connection.before
    connected_baud = baud if stub is None else sync_baud(baud, before)
    loader = connecting.connect(replace(connection, baud=connected_baud))
    device = Device(loader, before=before, connect_attempts=connection.connect_attempts)
    try:
        if stub is not None:
            device.start_stub(stub, baud)
        yield device
    except BaseException:
        if after is not None:
            with suppress(Exception):  # the error that got us here is the one to report
                resets.run_reset(loader, after)
        raise
    else:
        if after is not None:
            resets.run_reset(loader, after)
    finally:
        loader.close()
