"""Flash operations as users think of them, on top of the bootloader client.

    from espforge.flash import FlashInput, WriteOptions, open_device, plan_write, execute_plan
    from espforge.protocol.connect import ConnectOptions

    with open_device(ConnectOptions("/dev/ttyUSB0", chip="esp32c3")) as device:
        device.attach_flash()
        plan = plan_write(device, [FlashInput(0x0, image, "app.bin")], WriteOptions())
        print(plan.describe())  # a dry run stops here
        execute_plan(device, plan)

Progress comes as `ProgressEvent`s on `device.progress` (subscribe a callback); messages go to
the "espforge" logger, in esptool's wording.
"""

from espforge.flash.device import Device, open_device
from espforge.flash.erase import erase_flash, erase_region
from espforge.flash.flash_id import FlashId
from espforge.flash.inputs import FlashInput, FlashInputError, read_inputs, read_previous_files
from espforge.flash.memory import (
    chip_id,
    dump_mem,
    load_ram,
    mac_addresses,
    read_mem,
    run_user_code,
    write_mem,
)
from espforge.flash.plan import PlanStep, StepKind, WriteOptions, WritePlan, plan_write
from espforge.flash.progress import ProgressBus, ProgressEvent
from espforge.flash.read import Mismatch, read_flash, verify_flash
from espforge.flash.write import WriteReport, WriteVerifyError, execute_plan, write_flash

__all__ = [
    "Device",
    "FlashId",
    "FlashInput",
    "FlashInputError",
    "Mismatch",
    "PlanStep",
    "ProgressBus",
    "ProgressEvent",
    "StepKind",
    "WriteOptions",
    "WritePlan",
    "WriteReport",
    "WriteVerifyError",
    "chip_id",
    "dump_mem",
    "erase_flash",
    "erase_region",
    "execute_plan",
    "load_ram",
    "mac_addresses",
    "open_device",
    "plan_write",
    "read_flash",
    "read_inputs",
    "read_mem",
    "read_previous_files",
    "run_user_code",
    "verify_flash",
    "write_flash",
    "write_mem",
]
