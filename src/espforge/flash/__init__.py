"""Flash operations as users think of them, on top of the bootloader client.

    from espforge.flash import WriteOptions, check_inputs, execute_plan, open_device, plan_write
    from espforge.image.flash_input import FlashInput
    from espforge.protocol.connect import ConnectOptions

    with open_device(ConnectOptions("/dev/ttyUSB0", chip="esp32c3")) as device:
        device.attach_flash()
        inputs = check_inputs([FlashInput(0x0, image, "app.bin")])
        plan = plan_write(device, inputs, WriteOptions())
        print(plan.describe())  # a dry run stops here
        execute_plan(device, plan)

Progress comes as `ProgressEvent`s on `device.progress` (subscribe a callback; each long
operation is a task that starts, reports and then finishes, fails or is skipped); messages go
to the "espforge" logger, in esptool's wording.
"""

from espforge.flash.device import Device, open_device
from espforge.flash.erase import erase_flash, erase_region
from espforge.flash.flash_id import FlashId
from espforge.flash.inputs import (
    FlashInputError,
    WriteInputs,
    check_inputs,
    read_inputs,
    read_previous_files,
)
from espforge.flash.memory import (
    chip_id,
    dump_mem,
    load_ram,
    mac_addresses,
    read_mem,
    run_user_code,
    write_mem,
)
from espforge.flash.plan import PlanStep, StepKind, WriteOptions, WritePlan
from espforge.flash.planner import plan_write
from espforge.flash.progress import (
    DeviceIdentity,
    EventKind,
    Operation,
    ProgressBus,
    ProgressEvent,
    ProgressTask,
)
from espforge.flash.read import Mismatch, read_flash, verify_flash
from espforge.flash.write import WriteReport, WriteVerifyError, execute_plan, write_flash

__all__ = [
    "Device",
    "DeviceIdentity",
    "EventKind",
    "FlashId",
    "FlashInputError",
    "Mismatch",
    "Operation",
    "PlanStep",
    "ProgressBus",
    "ProgressEvent",
    "ProgressTask",
    "StepKind",
    "WriteInputs",
    "WriteOptions",
    "WritePlan",
    "WriteReport",
    "WriteVerifyError",
    "check_inputs",
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
