"""Handlers of the chip and memory commands: MAC, chip ID, security info, memory, RAM loads.

They print what esptool 5.6 prints where scripts read it ("MAC: ...", "Chip ID: ...") and
run connected, through `device.device_command`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from espforge.cli.device import device_command, print_macs
from espforge.cli.framework import CommandOptions, Invocation, NoOptions, command
from espforge.errors import EspforgeError, NotSupportedError
from espforge.fileio import write_output
from espforge.flash import Device, chip_id, dump_mem, load_ram, read_mem, run_user_code, write_mem
from espforge.image.merge import read_merge_input
from espforge.protocol.security import SecurityInfo


@device_command(NoOptions, attach=False)
def run_read_mac(invocation: Invocation, device: Device, options: NoOptions) -> None:
    print_macs(invocation, device)


@device_command(NoOptions, attach=False)
def run_chip_id(invocation: Invocation, device: Device, options: NoOptions) -> None:
    number = chip_id(device)
    if number is None:
        invocation.warn(f"{device.chip.chip_name} has no chip ID. Reading MAC address instead.")
        print_macs(invocation, device)
    else:
        invocation.echo(f"Chip ID: {number:#010x}")


@device_command(NoOptions, attach=False)
def run_get_security_info(invocation: Invocation, device: Device, options: NoOptions) -> None:
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


# ---------------------------------------------------------------------- memory


@dataclass(frozen=True)
class ReadMemOptions(CommandOptions):
    address: int


@device_command(ReadMemOptions, attach=False)
def run_read_mem(invocation: Invocation, device: Device, options: ReadMemOptions) -> None:
    invocation.echo(f"{options.address:#010x} = {read_mem(device, options.address):#010x}")


@dataclass(frozen=True)
class WriteMemOptions(CommandOptions):
    address: int
    value: int
    mask: int


@device_command(WriteMemOptions, attach=False)
def run_write_mem(invocation: Invocation, device: Device, options: WriteMemOptions) -> None:
    write_mem(device, options.address, options.value, options.mask)
    invocation.echo(
        f"Wrote {options.value:#010x} with mask {options.mask:#010x} to {options.address:#010x}."
    )


@dataclass(frozen=True)
class DumpMemOptions(CommandOptions):
    address: int
    size: int
    output: str


@device_command(DumpMemOptions, attach=False)
def run_dump_mem(invocation: Invocation, device: Device, options: DumpMemOptions) -> None:
    address, size, output = options.address, options.size, options.output
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


# ---------------------------------------------------------------------- running code


@dataclass(frozen=True)
class LoadRamOptions(CommandOptions):
    filename: str


def _single_image(invocation: Invocation, options: LoadRamOptions) -> bytes:
    """load-ram takes one image: a HEX file of several blocks is refused."""
    regions = read_merge_input(0, options.filename)
    if len(regions) > 1:
        raise EspforgeError(
            "Merged binary image detected. Only one file can be specified for the load-ram command."
        )
    return regions[0][1]


@device_command(LoadRamOptions, attach=False, reset=False, prepare=_single_image)
def run_load_ram(
    invocation: Invocation, device: Device, options: LoadRamOptions, image: bytes
) -> None:
    load_ram(device, image, options.filename)


@device_command(NoOptions)
def run_run(invocation: Invocation, device: Device, options: NoOptions) -> None:
    run_user_code(device)


@command(NoOptions)
def not_available(invocation: Invocation, options: NoOptions) -> None:
    raise NotSupportedError(
        f"'{invocation.command}' is not available in espforge yet (it needs the Secure Debug "
        "Controller or NAND support); use esptool for it for now."
    )
