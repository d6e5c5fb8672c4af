"""A flasher stub's life on a connected chip: chosen, uploaded and started (or one left running
adopted), started again after a reset; or the ROM carries on without one.

A stub is a small program the host loads into the chip's RAM (MEM_BEGIN/MEM_DATA per segment,
MEM_END with its entry point). Once running it sends the raw packet `OHAI` and then answers the
ROM's commands in a richer dialect (protocol.dialect's `STUB_DIALECT`): 16 KB flash blocks
acknowledged before they are written, writes that erase as they go, READ_FLASH with windowed
acknowledgements and a trailing MD5, whole-chip and region erase, MD5 as 16 raw bytes, and
CHANGE_BAUDRATE taking the old rate too.
"""

from __future__ import annotations

from espforge.errors import CommandFailed
from espforge.logs import library_logger
from espforge.protocol.loader import Loader
from espforge.protocol.stub_image import StubError, StubImage, StubSource

log = library_logger(__name__)

GREETING = b"OHAI"  # the raw packet a flasher stub sends once it runs


def run_flasher_stub(
    loader: Loader, source: StubSource, before: str, connect_attempts: int
) -> None:
    """Start the flasher stub from `source` (or adopt one left running); without a stub, or
    when it does not start, the ROM carries on (resynced, as `before` says)."""
    if before == "no-reset-no-sync" or loader.stub_detected:
        log.info("Stub flasher is already running. No upload is necessary.")
        loader.speak_stub(None)
    elif loader.secure_download_mode:
        log.warning(
            "Stub flasher is not supported in Secure Download Mode; using the ROM bootloader."
        )
    else:
        image = source.image_for(loader.chip, lambda: _major_revision(loader))
        if image is None:
            log.info(
                "Note: espforge talks to the ROM bootloader directly (as esptool does with "
                f"--no-stub): {source.describe_absence(loader.chip)}."
            )
            return
        try:
            start_stub(loader, image)
        except (StubError, CommandFailed) as error:  # not greeting, or not loadable
            log.warning(
                f"The flasher stub did not start ({error}); carrying on with the ROM bootloader."
            )
            loader.resync(before, connect_attempts)


def _major_revision(loader: Loader) -> int | None:
    return None if loader.chip.revision is None else loader.chip_revision()[0]


def start_stub(loader: Loader, image: StubImage) -> None:
    """Upload `image` into RAM, start it and wait for its greeting; from then on the loader
    speaks the stub's dialect."""
    log.info("Uploading stub flasher...")
    for address, payload in image.segments:
        block = loader.ram_block_size
        blocks = -(-len(payload) // block)
        loader.mem_begin(len(payload), blocks, block, address)
        for seq in range(blocks):
            loader.mem_block(payload[seq * block : (seq + 1) * block], seq)
    log.info("Running stub flasher...")
    loader.mem_finish(image.entry)
    frame = loader.link.read_frame(loader.settings.timeout)
    if frame != GREETING:
        heard = "nothing" if frame is None else f"{frame[:16]!r}"
        raise StubError(f"{image.source} sent {heard} where its greeting OHAI was due")
    log.info("Stub flasher running.")
    loader.speak_stub(image)


def reconnect(loader: Loader, before: str, attempts: int, reopen_port: bool = False) -> None:
    """Get a chip that reset or dropped off the link back: reopen the port (when it failed),
    reset and sync, and start the flasher stub again if one was running (one adopted from an
    earlier session cannot be: the ROM carries on)."""
    image = loader.stub_image  # set while a stub this session started answers
    if reopen_port:
        loader.link.reopen()
    loader.resync(before, attempts)
    if image is not None:
        start_stub(loader, image)
