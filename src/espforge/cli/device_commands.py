"""Handlers of the device commands: connect with the global options, run, reset as --after says.

Each handler turns its parsed options into calls of `espforge.flash` and prints what esptool 5.6
prints, in its wording where scripts read it ("MAC: ...", "Chip ID: ...", "Wrote N bytes ...",
"Hash of data verified."). Unless --no-stub is given, the flasher stub named by --stub-file or
found in the stub directory is started first. Imported only when a device command runs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from espforge.cli.commands import Invocation
from espforge.cli.image_commands import _shows_library_log as shows_library_log
from espforge.cli.progress import progress_bars
from espforge.errors import EspforgeError, NotSupportedError, SecureDownloadModeError
from espforge.fileio import write_output
from espforge.flash import (
    Device,
    WriteInputs,
    WriteOptions,
    check_inputs,
    chip_id,
    dump_mem,
    erase_flash,
    erase_region,
    execute_plan,
    load_ram,
    mac_addresses,
    open_device,
    plan_write,
    read_inputs,
    read_mem,
    read_previous_files,
    run_user_code,
    verify_flash,
    write_mem,
)
from espforge.flash.memory import format_mac
from espforge.flash.read import check_can_read, read_flash_reporting
from espforge.image.flash_params import flash_size_bytes
from espforge.image.merge import read_merge_input
from espforge.protocol.connect import ConnectOptions
from espforge.protocol.security import SECURE_DOWNLOAD_MODE_COMMANDS, SecurityInfo
from espforge.protocol.stub_image import StubSource

Handler = Callable[..., None]
Preparation = Callable[[Invocation], dict[str, Any]]


def device_command(
    attach: bool = True, reset: bool = True, prepare: Preparation | None = None
) -> Callable[[Handler], Callable[[Invocation], None]]:
    """Make `handler(invocation, device, **prepared)` a command handler: check and load what
    `prepare` returns (before connecting, so bad input never reaches the chip), connect, print
    the chip banner, attach the SPI flash (if `attach`), run, then reset as --after says (if
    `reset`; else leave the chip running what it was given)."""

    def decorate(handler: Handler) -> Callable[[Invocation], None]:
        @functools.wraps(handler)
        @shows_library_log
        def run(invocation: Invocation) -> None:
            extra = prepare(invocation) if prepare else {}
            _refuse_unsupported_globals(invocation)
            with _connected(invocation, reset) as device:
                _check_secure_download_mode(invocation, device)
                if attach:
                    device.attach_flash(invocation.arguments.get("spi_connection"))
                enabled = not invocation.settings.silent and not invocation.arguments.get(
                    "no_progress", False
                )
                with progress_bars(device.progress, enabled):
                    handler(invocation, device, **extra)

        return run

    return decorate


def _refuse_unsupported_globals(invocation: Invocation) -> None:
    settings = invocation.settings
    if settings.override_vddsdio:
        raise NotSupportedError("--override-vddsdio is not available in espforge yet")
    if invocation.arguments.get("flash_type") == "nand":
        raise NotSupportedError("NAND flash is not supported by espforge yet")


@contextmanager
def _connected(invocation: Invocation, reset: bool) -> Iterator[Device]:
    settings = invocation.settings
    after = settings.after if reset else None
    with open_device(
        ConnectOptions(
            port=settings.port,
            chip=settings.chip,
            baud=settings.baud,
            before=settings.before,
            connect_attempts=settings.connect_attempts,
            trace=settings.trace,
            port_filter=settings.port_filter,
        ),
        after=after,
        stub=None if settings.no_stub else StubSource(settings.stub_file, settings.stub_dir),
    ) as device:
        _print_banner(invocation, device)
        yield device
        invocation.echo("")
        if not reset:
            invocation.echo("Exiting immediately.")


def _print_banner(invocation: Invocation, device: Device) -> None:
    loader = device.loader
    echo = invocation.echo
    echo(f"Connected to {device.chip.chip_name} on {loader.port_name}:")
    if device.secure_download_mode:
        echo(f"{'Chip type:':<20}{device.chip.chip_name} in Secure Download Mode")
        echo("")
        return
    revision = ""
    if device.chip.revision is not None:
        major, minor = loader.chip_revision()
        revision = f" (revision v{major}.{minor})"
    echo(f"{'Chip type:':<20}{device.chip.chip_name}{revision}")
    echo(f"{'Crystal frequency:':<20}{loader.crystal_mhz()}MHz")
    if loader.usb_mode is not None:
        echo(f"{'USB mode:':<20}{loader.usb_mode}")
    _print_macs(invocation, device)
    echo("")


def _print_macs(invocation: Invocation, device: Device) -> None:
    for label, mac in mac_addresses(device):
        invocation.echo(f"{label + ':':<20}{format_mac(mac)}")


def _check_secure_download_mode(invocation: Invocation, device: Device) -> None:
    if device.secure_download_mode and invocation.command not in SECURE_DOWNLOAD_MODE_COMMANDS:
        raise SecureDownloadModeError(
            f"The '{invocation.command}' command is not available in Secure Download Mode."
        )


# ---------------------------------------------------------------------- flash


def _write_flash_inputs(invocation: Invocation) -> dict[str, Any]:
    values = invocation.arguments
    inputs = read_inputs(values["addr_filename"])
    encrypted_inputs = read_inputs(values["encrypt_files"] or ())
    return {
        "inputs": check_inputs(inputs, encrypted_inputs),
        "previous": read_previous_files(values["diff_with"] or ()),
    }


@device_command(prepare=_write_flash_inputs)
def run_write_flash(
    invocation: Invocation,
    device: Device,
    inputs: WriteInputs,
    previous: list[bytes | None],
) -> None:
    values = invocation.arguments
    compress = True if values["compress"] else False if values["no_compress"] else None
    skip_unchanged = (
        True if values["skip_unchanged"] else False if values["no_skip_unchanged"] else None
    )
    options = WriteOptions(
        flash_mode=values["flash_mode"],
        flash_freq=values["flash_freq"],
        flash_size=values["flash_size"],
        erase_all=values["erase_all"],
        compress=compress,
        diff_with=previous,
        trust_flash_content=values["trust_flash_content"],
        skip_flashed=values["skip_flashed"],
        skip_unchanged=skip_unchanged,
        force=values["force"],
        encrypt=values["encrypt"],
        ignore_flash_enc_efuse=values["ignore_flash_enc_efuse"],
    )
    plan = plan_write(device, inputs, options)
    if values.get("dry_run"):
        invocation.echo(plan.describe())
        invocation.echo("Dry run: nothing was erased or written.")
        return
    execute_plan(device, plan)


@device_command()
def run_read_flash(invocation: Invocation, device: Device) -> None:
    values = invocation.arguments
    check_can_read(device)
    address, size = values["address"], _size_argument(invocation, device, values["size"])
    device.check_access(address, size)
    device.configure_flash_size(values["flash_size"])
    data = read_flash_reporting(device, address, size, values["output"])
    write_output(values["output"], data)


@device_command()
def run_verify_flash(invocation: Invocation, device: Device) -> None:
    values = invocation.arguments
    mismatches = verify_flash(
        device,
        read_inputs(values["addr_filename"]),
        flash_mode=values["flash_mode"],
        flash_freq=values["flash_freq"],
        flash_size=values["flash_size"],
        show_differences=values["diff"],
    )
    if mismatches:
        raise EspforgeError("Verification failed.")


@device_command()
def run_erase_flash(invocation: Invocation, device: Device) -> None:
    erase_flash(device, force=invocation.arguments["force"])


@device_command()
def run_erase_region(invocation: Invocation, device: Device) -> None:
    values = invocation.arguments
    size = _size_argument(invocation, device, values["size"])
    erase_region(device, values["address"], size, force=values["force"])


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


@device_command()
def run_flash_id(invocation: Invocation, device: Device) -> None:
    title = "Flash Memory Information:"
    invocation.echo(title)
    invocation.echo("=" * len(title))
    _print_flash_id(invocation, device)


def _print_flash_id(invocation: Invocation, device: Device) -> None:
    flash_id = device.flash_id()
    invocation.echo(f"Manufacturer: {flash_id.manufacturer:02x}")
    invocation.echo(f"Device: {flash_id.device:04x}")
    invocation.echo(f"Detected flash size: {flash_id.size_name or 'Unknown'}")


@device_command()
def run_read_flash_status(invocation: Invocation, device: Device) -> None:
    status = device.loader.read_flash_status(int(invocation.arguments["bytes"]))
    invocation.echo(f"Flash memory status: {status:#06x}")


@device_command()
def run_write_flash_status(invocation: Invocation, device: Device) -> None:
    values = invocation.arguments
    num_bytes = int(values["bytes"])
    value = values["value"] & ((1 << (8 * num_bytes)) - 1)
    digits = 2 * num_bytes

    def shown(status: int) -> str:
        return f"0x{status:0{digits}x}"

    loader = device.loader
    invocation.echo(f"Initial flash memory status: {shown(loader.read_flash_status(num_bytes))}")
    invocation.echo(f"Setting flash memory status: {shown(value)}")
    loader.write_flash_status(value, num_bytes, values["non_volatile"])
    invocation.echo(f"After flash memory status:   {shown(loader.read_flash_status(num_bytes))}")


@device_command()
def run_read_flash_sfdp(invocation: Invocation, device: Device) -> None:
    values = invocation.arguments
    address, count = values["address"], values["bytes"]
    if not 1 <= count <= 4:
        raise EspforgeError("Invalid number of bytes to read from SFDP (1-4).")
    _print_flash_id(invocation, device)
    sfdp = device.loader.read_flash_sfdp(address, count)
    shown = " ".join(f"{(sfdp >> (8 * index)) & 0xFF:#04x}" for index in range(count))
    invocation.echo(f"Flash memory SFDP[{address}..{address + count - 1}]: {shown} ")


@device_command()
def run_run(invocation: Invocation, device: Device) -> None:
    run_user_code(device)


# ---------------------------------------------------------------------- chip and memory


@device_command(attach=False)
def run_read_mac(invocation: Invocation, device: Device) -> None:
    _print_macs(invocation, device)


@device_command(attach=False)
def run_chip_id(invocation: Invocation, device: Device) -> None:
    number = chip_id(device)
    if number is None:
        invocation.warn(f"{device.chip.chip_name} has no chip ID. Reading MAC address instead.")
        _print_macs(invocation, device)
    else:
        invocation.echo(f"Chip ID: {number:#010x}")


@device_command(attach=False)
def run_get_security_info(invocation: Invocation, device: Device) -> None:
    info = device.security_info()
    if info is None:
        raise NotSupportedError(
            f"the {device.chip.chip_name} ROM has no GET_SECURITY_INFO command, so there is no "
            "security information to show"
        )
    echo = invocation.echo
    title = "Security Information:"
    echo(title)
    echo("=" * len(title))
    echo(f"Flags: {info.flags:#010x} ({bin(info.flags)})")
    echo(f"Key Purposes: {info.key_purposes}")
    if info.chip_id is not None and info.api_version is not None:
        echo(f"Chip ID: {info.chip_id}")
        echo(f"API Version: {info.api_version}")
    _print_security_state(invocation, info)


def _print_security_state(invocation: Invocation, info: SecurityInfo) -> None:
    echo = invocation.echo
    if info.flag("SECURE_BOOT_EN"):
        echo("Secure Boot: Enabled")
        if info.flag("SECURE_BOOT_AGGRESSIVE_REVOKE"):
            echo("Secure Boot Aggressive key revocation: Enabled")
        revoked = [key for key in range(3) if info.flag(f"SECURE_BOOT_KEY_REVOKE{key}")]
        if revoked:
            echo("Secure Boot Key Revocation Status:\n")
            for key in revoked:
                echo(f"\tSecure Boot Key{key} is Revoked\n")
    else:
        echo("Secure Boot: Disabled")
    echo(f"Flash Encryption: {'Enabled' if info.flash_encryption_enabled else 'Disabled'}")
    echo(f"SPI Boot Crypt Count (SPI_BOOT_CRYPT_CNT): {info.flash_crypt_cnt:#x}")
    if info.flag("DIS_DOWNLOAD_DCACHE"):
        echo("Dcache in UART download mode: Disabled")
    if info.flag("DIS_DOWNLOAD_ICACHE"):
        echo("Icache in UART download mode: Disabled")
    if info.flag("HARD_DIS_JTAG"):
        echo("JTAG: Permanently Disabled")
    elif info.flag("SOFT_DIS_JTAG"):
        echo("JTAG: Software Access Disabled")
    if info.flag("DIS_USB"):
        echo("USB Access: Disabled")


@device_command(attach=False)
def run_read_mem(invocation: Invocation, device: Device) -> None:
    address = invocation.arguments["address"]
    invocation.echo(f"{address:#010x} = {read_mem(device, address):#010x}")


@device_command(attach=False)
def run_write_mem(invocation: Invocation, device: Device) -> None:
    values = invocation.arguments
    write_mem(device, values["address"], values["value"], values["mask"])
    invocation.echo(
        f"Wrote {values['value']:#010x} with mask {values['mask']:#010x} to "
        f"{values['address']:#010x}."
    )


@device_command(attach=False)
def run_dump_mem(invocation: Invocation, device: Device) -> None:
    values = invocation.arguments
    address, size, output = values["address"], values["size"], values["output"]
    invocation.echo(f"Dumping {size} bytes from {address:#010x} to file '{output}'...")
    started = time.monotonic()
    data = dump_mem(device, address, size)
    elapsed = time.monotonic() - started
    rate = f" ({len(data) / elapsed * 8 / 1000:.1f} kbit/s)" if elapsed > 0 else ""
    invocation.echo(
        f"Dumped {len(data)} bytes from {address:#010x} in {elapsed:.1f} seconds{rate} "
        f"to '{output}'."
    )
    write_output(output, data)


def _single_image(invocation: Invocation) -> dict[str, Any]:
    """load-ram takes one image: a HEX file of several blocks is refused."""
    regions = read_merge_input(0, invocation.arguments["filename"])
    if len(regions) > 1:
        raise EspforgeError(
            "Merged binary image detected. Only one file can be specified for the load-ram command."
        )
    return {"image": regions[0][1]}


@device_command(attach=False, reset=False, prepare=_single_image)
def run_load_ram(invocation: Invocation, device: Device, image: bytes) -> None:
    load_ram(device, image, invocation.arguments["filename"])


def not_available(invocation: Invocation) -> None:
    raise NotSupportedError(
        f"'{invocation.command}' is not available in espforge yet (it needs the Secure Debug "
        "Controller or NAND support); use esptool for it for now."
    )
