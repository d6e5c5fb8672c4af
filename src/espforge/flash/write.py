"""Carrying out a write plan: each transfer erased and programmed, each file verified by MD5.

What is reported (through logging) follows esptool 5.6's write-flash in ROM mode, including its
summary line per transfer ("Wrote N bytes (M compressed) at 0x... in T seconds (X kbit/s).")
and "Hash of data verified." once a file's flash MD5 matches. A file whose MD5 does not match
ends the write with an error: never a success message over wrong flash contents. After a
region-by-region comparison only the rewritten runs are checked, one MD5 each: the regions left
alone were proven equal by their MD5s just before. Encrypted transfers ask the chip to encrypt
(the encrypt word of FLASH_BEGIN/FLASH_DEFL_BEGIN) and are neither verified nor, after a lost
link, sent again (esptool's rule: a chip that reset mid-write is not trusted with the key).
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.errors import CommandFailed, EspforgeError, PortError, ProtocolError
from espforge.flash.device import Device
from espforge.flash.erase import erase_whole_flash
from espforge.flash.inputs import check_inputs
from espforge.flash.plan import FileWrite, Transfer, WriteOptions, WritePlan
from espforge.flash.planner import plan_write
from espforge.flash.progress import Operation
from espforge.image.flash_input import FlashInput
from espforge.logs import library_logger

log = library_logger(__name__)

WRITE_ATTEMPTS = 2  # a transfer whose link failed is sent once more, as esptool does


class WriteVerifyError(EspforgeError):
    """The flash does not hold what was written."""


@dataclass(frozen=True)
class TransferResult:
    address: int
    size: int  # bytes that landed in flash
    sent: int  # bytes sent (compressed size when compressed)
    compressed: bool
    seconds: float


@dataclass(frozen=True)
class FileResult:
    source: str
    address: int
    transfers: tuple[TransferResult, ...] = ()
    skipped: str | None = None  # why nothing was written
    verified: bool | None = None  # None: the ROM could not check it


@dataclass
class WriteReport:
    files: list[FileResult] = field(default_factory=list)

    @property
    def bytes_written(self) -> int:
        return sum(t.size for file in self.files for t in file.transfers)


def write_flash(
    device: Device, inputs: Sequence[FlashInput], options: WriteOptions | None = None
) -> WriteReport:
    """Check, plan and carry out a write (see `check_inputs`, `plan_write`, `execute_plan`)."""
    planned = plan_write(device, check_inputs(inputs), options or WriteOptions())
    return execute_plan(device, planned)


def execute_plan(device: Device, plan: WritePlan) -> WriteReport:
    """Erase, program and verify as `plan` says; raise if any file does not verify."""
    if plan.chip != device.chip:
        raise EspforgeError(
            f"this plan was made for {plan.chip.chip_name}, not {device.chip.chip_name}"
        )
    if plan.erase_all:
        assert plan.flash_end is not None  # planning refuses --erase-all without a size
        erase_whole_flash(device, plan.flash_end)
    report = WriteReport()
    for file in plan.files:
        if len(plan.files) > 1:
            log.info(f"\nWriting '{file.source}' at {file.address:#010x}...")
        report.files.append(_write_file(device, file, announce_erase=not plan.erase_all))
    return report


def _write_file(device: Device, file: FileWrite, announce_erase: bool) -> FileResult:
    if file.warning:
        log.warning(file.warning)
    if file.skip_message is not None:
        if not file.warning:
            log.info(file.skip_message)
        return FileResult(file.source, file.address, skipped=file.skip_message)
    results = [_send_with_retry(device, t, file.source, announce_erase) for t in file.transfers]
    log.info("Verifying written data...")
    if not file.verify:
        _explain_unverified(device, file)
        return FileResult(file.source, file.address, tuple(results), verified=None)
    mismatch = _first_mismatch(device, file.source, file.checks())
    if mismatch is not None and file.full_rewrite is not None:
        log.info(
            "Note: Verification failed after fast reflash (flash content did not match the "
            "expected data). Reflashing the whole image..."
        )
        results.append(_send_with_retry(device, file.full_rewrite, file.source, announce_erase))
        log.info("Verifying written data...")
        mismatch = _first_mismatch(device, file.source, ((file.base_address, file.image),))
    if mismatch is not None:
        _fail_verification(file, *mismatch)
    log.info("Hash of data verified.")
    return FileResult(file.source, file.address, tuple(results), verified=True)


def _send_with_retry(
    device: Device, transfer: Transfer, source: str, announce_erase: bool
) -> TransferResult:
    if announce_erase:
        _announce_erase(transfer)
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            return _send(device, transfer, source)
        except (ProtocolError, CommandFailed, PortError) as error:
            if attempt == WRITE_ATTEMPTS or transfer.encrypted:
                raise
            # The chip may have reset (a brown-out) or dropped off the link: get it back into
            # download mode and send the whole transfer again, erase included.
            log.info("\nLost connection, retrying...")
            log.debug("The transfer failed: %s", error)
            try:
                device.reconnect(reopen_port=isinstance(error, PortError))
            except EspforgeError:
                raise error from None
    raise AssertionError("unreachable")


def _announce_erase(transfer: Transfer) -> None:
    shown = transfer.reported_address
    ahead = shown - transfer.address
    if ahead:
        log.info(
            f"Note: Flash address {shown:#010x} is not aligned to a {FLASH_SECTOR_SIZE:#x} byte "
            f"flash sector. {ahead:#x} bytes before this address will be erased."
        )
    log.info(
        f"Flash will be erased from {transfer.address:#010x} to {transfer.erase_end - 1:#010x}..."
    )


def _send(device: Device, transfer: Transfer, source: str) -> TransferResult:
    loader = device.loader
    payload = transfer.payload
    erases_on_begin = loader.dialect.erases_on_begin  # else it erases as the data arrives
    if erases_on_begin:
        log.info("Erasing flash...")
    erase_started = time.monotonic()
    if transfer.compressed is not None:
        log.info(f"Compressed {len(transfer.data)} bytes to {len(payload)}...")
        loader.flash_defl_begin(
            len(transfer.data), len(payload), transfer.address, encrypted=transfer.encrypted
        )
    else:
        loader.flash_begin(len(transfer.data), transfer.address, encrypted=transfer.encrypted)
    if erases_on_begin:
        log.info(f"Took {time.monotonic() - erase_started:.2f}s to erase flash block.")

    started = time.monotonic()
    block_size = loader.flash_block_size
    settings = loader.settings
    inflater = zlib.decompressobj() if transfer.compressed is not None else None
    written = 0
    timeout = settings.timeout
    writing = f"Writing at {transfer.address:#010x}"
    with device.progress.task(Operation.WRITE, len(payload), writing) as task:
        for seq, offset in enumerate(range(0, len(payload), block_size)):
            block = payload[offset : offset + block_size]
            if inflater is not None:
                # A ROM inflates and programs the block before it answers, a stub while the next
                # one arrives: give it time for the bytes it will program (a kilobyte of zlib can
                # stand for a megabyte of data).
                inflated = len(inflater.decompress(block))
                timeout = settings.timeout_for(settings.erase_write_timeout_per_mb, inflated)
                loader.flash_defl_block(block, seq, timeout=timeout)
                written += inflated
            else:
                loader.flash_block(block + b"\xff" * (block_size - len(block)), seq)
                written += len(block)
            task.advance(len(block), f"Writing at {transfer.address + written:#010x}")
    loader.finish_write(compressed=transfer.compressed is not None, timeout=timeout)
    elapsed = time.monotonic() - started
    _report_written(transfer, elapsed)
    return TransferResult(
        transfer.reported_address,
        len(transfer.data),
        len(payload),
        transfer.compressed is not None,
        elapsed,
    )


def _report_written(transfer: Transfer, elapsed: float) -> None:
    size = len(transfer.data)
    rate = f" ({size / elapsed * 8 / 1000:.1f} kbit/s)" if elapsed > 0 else ""
    packed = "" if transfer.compressed is None else f" ({len(transfer.compressed)} compressed)"
    log.info(
        f"Wrote {size} bytes{packed} at {transfer.reported_address:#010x} in {elapsed:.1f} "
        f"seconds{rate}."
    )


def _explain_unverified(device: Device, file: FileWrite) -> None:
    """Why the write is not checked: encrypted, Secure Download Mode, or no MD5 command."""
    if device.secure_download_mode or file.encrypted:
        log.info("Cannot verify written data if encrypted or in secure download mode.")
    else:
        log.info(
            f"Note: the {device.chip.chip_name} ROM cannot compute a flash MD5, so the "
            "written data was not verified (the flasher stub could)."
        )


def _first_mismatch(
    device: Device, source: str, checks: Sequence[tuple[int, bytes]]
) -> tuple[int, bytes, str] | None:
    """The first span whose flash MD5 differs from its expected bytes', as (address, expected,
    flash MD5), or None when every span matches."""
    total = sum(len(expected) for _, expected in checks)
    with device.progress.task(Operation.VERIFY, total, f"Verifying {source}") as task:
        for address, expected in checks:
            digest = device.flash_md5(address, len(expected))
            task.advance(len(expected), f"Verified {source}")
            if digest != hashlib.md5(expected).hexdigest():
                return address, expected, digest
    return None


def _fail_verification(file: FileWrite, address: int, expected: bytes, flash_md5: str) -> None:
    log.info(f"Input MD5: {hashlib.md5(expected).hexdigest()}")
    log.info(f"Flash MD5: {flash_md5}")
    if flash_md5 == hashlib.md5(b"\xff" * len(expected)).hexdigest():
        raise WriteVerifyError("Write failed, the written flash region is empty.")
    where = "" if expected == file.image else f" at {address:#010x} ({len(expected)} bytes)"
    raise WriteVerifyError(f"MD5 of file does not match data in flash{where}! ({file.source})")
