"""Handlers of the flash commands: write, read, verify and erase flash, and its ID and status.

Each turns its typed options into calls of `espforge.flash` and prints what esptool 5.6
prints, in its wording where scripts read it ("Wrote N bytes ...", "Hash of data verified.").
They run connected, through `device.device_command`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from espforge.cli.device import device_command
from espforge.cli.framework import CommandOptions, Invocation, NoOptions
from espforge.errors import EspforgeError
from espforge.fileio import write_output
from espforge.flash import (
    Device,
    WriteInputs,
    WriteOptions,
    check_inputs,
    erase_flash,
    erase_region,
    execute_plan,
    plan_write,
    read_inputs,
    read_previous_files,
    verify_flash,
)
from espforge.flash.read import check_can_read, read_flash_reporting
from espforge.image.flash_params import flash_size_bytes


def _either(on: bool, off: bool) -> bool | None:
    """A tri-state from a pair of flags: True, False, or None when neither was given."""
    return True if on else False if off else None


# ---------------------------------------------------------------------- write-flash


@dataclass(frozen=True)
class WriteFlashOptions(CommandOptions):
    addr_filename: list[tuple[int, str]]
    encrypt_files: list[tuple[int, str]] | None
    diff_with: tuple[str | None, ...] | None
    flash_mode: str
    flash_freq: str
    flash_size: str
    erase_all: bool
    compress: bool | None  # None: wherever the ROM takes it
    trust_flash_content: bool
    skip_flashed: bool
    skip_unchanged: bool | None  # None: as the files and the chip allow
    force: bool
    encrypt: bool
    ignore_flash_enc_efuse: bool
    dry_run: bool

    @classmethod
    def from_arguments(cls, values: Mapping[str, Any]) -> WriteFlashOptions:
        return cls(
            addr_filename=values["addr_filename"],
            encrypt_files=values["encrypt_files"],
            diff_with=values["diff_with"],
            flash_mode=values["flash_mode"],
            flash_freq=values["flash_freq"],
            flash_size=values["flash_size"],
            erase_all=values["erase_all"],
            compress=_either(values["compress"], values["no_compress"]),
            trust_flash_content=values["trust_flash_content"],
            skip_flashed=values["skip_flashed"],
            skip_unchanged=_either(values["skip_unchanged"], values["no_skip_unchanged"]),
            force=values["force"],
            encrypt=values["encrypt"],
            ignore_flash_enc_efuse=values["ignore_flash_enc_efuse"],
            dry_run=values["dry_run"],
        )


@dataclass(frozen=True)
class WriteFiles:
    """write-flash's files, read and checked before connecting."""

    inputs: WriteInputs
    previous: list[bytes | None]


def _write_flash_inputs(invocation: Invocation, options: WriteFlashOptions) -> WriteFiles:
    inputs = read_inputs(options.addr_filename)
    encrypted_inputs = read_inputs(options.encrypt_files or ())
    return WriteFiles(
        check_inputs(inputs, encrypted_inputs), read_previous_files(options.diff_with or ())
    )


@device_command(WriteFlashOptions, prepare=_write_flash_inputs)
def run_write_flash(
    invocation: Invocation, device: Device, options: WriteFlashOptions, files: WriteFiles
) -> None:
    write = WriteOptions(
        flash_mode=options.flash_mode,
        flash_freq=options.flash_freq,
        flash_size=options.flash_size,
        erase_all=options.erase_all,
        compress=options.compress,
        diff_with=files.previous,
        trust_flash_content=options.trust_flash_content,
        skip_flashed=options.skip_flashed,
        skip_unchanged=options.skip_unchanged,
        force=options.force,
        encrypt=options.encrypt,
        ignore_flash_enc_efuse=options.ignore_flash_enc_efuse,
    )
    plan = plan_write(device, files.inputs, write)
    if options.dry_run:
        invocation.echo(plan.describe())
        invocation.echo("Dry run: nothing was erased or written.")
        return
    execute_plan(device, plan)


# ---------------------------------------------------------------------- read, verify, erase


@dataclass(frozen=True)
class ReadFlashOptions(CommandOptions):
    address: int
    size: int | str  # or "all"
    output: str
    flash_size: str


@device_command(ReadFlashOptions)
def run_read_flash(invocation: Invocation, device: Device, options: ReadFlashOptions) -> None:
    check_can_read(device)
    address, size = options.address, _size_argument(invocation, device, options.size)
    device.check_access(address, size)
    device.configure_flash_size(options.flash_size)
    data = read_flash_reporting(device, address, size, options.output)
    write_output(options.output, data)


@dataclass(frozen=True)
class VerifyFlashOptions(CommandOptions):
    addr_filename: list[tuple[int, str]]
    flash_mode: str
    flash_freq: str
    flash_size: str
    diff: bool


@device_command(VerifyFlashOptions)
def run_verify_flash(invocation: Invocation, device: Device, options: VerifyFlashOptions) -> None:
    mismatches = verify_flash(
        device,
        read_inputs(options.addr_filename),
        flash_mode=options.flash_mode,
        flash_freq=options.flash_freq,
        flash_size=options.flash_size,
        show_differences=options.diff,
    )
    if mismatches:
        raise EspforgeError("Verification failed.")


@dataclass(frozen=True)
class EraseFlashOptions(CommandOptions):
    force: bool


@device_command(EraseFlashOptions)
def run_erase_flash(invocation: Invocation, device: Device, options: EraseFlashOptions) -> None:
    erase_flash(device, force=options.force)


@dataclass(frozen=True)
class EraseRegionOptions(CommandOptions):
    address: int
    size: int | str  # or "all"
    force: bool


@device_command(EraseRegionOptions)
def run_erase_region(invocation: Invocation, device: Device, options: EraseRegionOptions) -> None:
    size = _size_argument(invocation, device, options.size)
    erase_region(device, options.address, size, force=options.force)


def _size_argument(invocation: Invocation, device: Device, size: int | str) -> int:
    """A size argument: a number of bytes (at most the detected flash size), or "all"."""
    if device.secure_download_mode:
        if size == "all":
            raise EspforgeError(
                "Detecting flash size is not supported in secure download mode. Set an exact "
                "size value."
            )
        return int(size)
    detected = device.detected_flash_size()
    if size != "all":
        if detected is not None and int(size) > flash_size_bytes(detected):
            raise EspforgeError(
                f"Specified size {int(size):#x} is greater than detected flash size "
                f"{flash_size_bytes(detected):#x}."
            )
        return int(size)
    if detected is None:
        raise EspforgeError("Detecting flash size failed. Set an exact size value.")
    invocation.echo(f"Detected flash size: {detected}")
    return flash_size_bytes(detected)


# ---------------------------------------------------------------------- ID, status, SFDP


@device_command(NoOptions)
def run_flash_id(invocation: Invocation, device: Device, options: NoOptions) -> None:
    title = "Flash Memory Information:"
    invocation.echo(title)
    invocation.echo("=" * len(title))
    _print_flash_id(invocation, device)


def _print_flash_id(invocation: Invocation, device: Device) -> None:
    flash_id = device.flash_id()
    invocation.echo(f"Manufacturer: {flash_id.manufacturer:02x}")
    invocation.echo(f"Device: {flash_id.device:04x}")
    invocation.echo(f"Detected flash size: {flash_id.size_name or 'Unknown'}")


@dataclass(frozen=True)
class FlashStatusOptions(CommandOptions):
    bytes: int

    @classmethod
    def from_arguments(cls, values: Mapping[str, Any]) -> FlashStatusOptions:
        return cls(bytes=int(values["bytes"]))


@device_command(FlashStatusOptions)
def run_read_flash_status(
    invocation: Invocation, device: Device, options: FlashStatusOptions
) -> None:
    status = device.loader.read_flash_status(options.bytes)
    invocation.echo(f"Flash memory status: {status:#06x}")


@dataclass(frozen=True)
class WriteFlashStatusOptions(FlashStatusOptions):
    value: int
    non_volatile: bool

    @classmethod
    def from_arguments(cls, values: Mapping[str, Any]) -> WriteFlashStatusOptions:
        return cls(
            bytes=int(values["bytes"]), value=values["value"], non_volatile=values["non_volatile"]
        )


@device_command(WriteFlashStatusOptions)
def run_write_flash_status(
    invocation: Invocation, device: Device, options: WriteFlashStatusOptions
) -> None:
    num_bytes = options.bytes
    value = options.value & ((1 << (8 * num_bytes)) - 1)
    digits = 2 * num_bytes

    def shown(status: int) -> str:
        return f"0x{status:0{digits}x}"

    loader = device.loader
    invocation.echo(f"Initial flash memory status: {shown(loader.read_flash_status(num_bytes))}")
    invocation.echo(f"Setting flash memory status: {shown(value)}")
    loader.write_flash_status(value, num_bytes, options.non_volatile)
    invocation.echo(f"After flash memory status:   {shown(loader.read_flash_status(num_bytes))}")


@dataclass(frozen=True)
class FlashSfdpOptions(CommandOptions):
    address: int
    bytes: int


@device_command(FlashSfdpOptions)
def run_read_flash_sfdp(invocation: Invocation, device: Device, options: FlashSfdpOptions) -> None:
    address, count = options.address, options.bytes
    if not 1 <= count <= 4:
        raise EspforgeError("Invalid number of bytes to read from SFDP (1-4).")
    _print_flash_id(invocation, device)
    sfdp = device.loader.read_flash_sfdp(address, count)
    shown = " ".join(f"{(sfdp >> (8 * index)) & 0xFF:#04x}" for index in range(count))
    invocation.echo(f"Flash memory SFDP[{address}..{address + count - 1}]: {shown} ")
