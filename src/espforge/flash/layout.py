"""The layout check `write-flash` runs before it erases anything.

When the files being written look like firmware (an image or a partition table among them), they
are checked as `espforge check-layout` checks them: every finding is printed, errors stop the
write, `--force` lets the overridable ones pass. Plain data is written unchecked, as esptool does.
"""

from __future__ import annotations

from collections.abc import Sequence

from espforge.flash.device import Device
from espforge.flash.inputs import FlashInput, FlashInputError
from espforge.image.firmware import IMAGE_MAGIC
from espforge.image.layout_check import FlashFile, blocking_findings, check_layout
from espforge.image.partition_table import DEFAULT_TABLE_OFFSET, ENTRY_MAGIC
from espforge.logs import library_logger

log = library_logger(__name__)


def looks_like_firmware(inputs: Sequence[FlashInput]) -> bool:
    """Whether any input starts like a firmware image or a partition table."""
    return any(
        item.data[:1] == bytes([IMAGE_MAGIC]) or item.data[:2] == ENTRY_MAGIC for item in inputs
    )


def check_firmware_layout(
    device: Device,
    inputs: Sequence[FlashInput],
    flash_end: int | None,
    force: bool,
    table_offset: int = DEFAULT_TABLE_OFFSET,
) -> None:
    """Print what is wrong with writing `inputs` and raise if an error is not overridden."""
    if not device.chip.esp_idf_layout or not looks_like_firmware(inputs):
        return  # ESP8266 flash has no ESP-IDF layout to check
    files = [FlashFile(item.address, item.data, item.source) for item in inputs]
    findings = check_layout(
        device.chip, files, partition_table_offset=table_offset, flash_size=flash_end
    )
    for finding in findings:
        log.info(str(finding))
    blocking = blocking_findings(findings, force)
    if blocking:
        hint = "" if force else "; --force overrides the ones that may be overridden"
        raise FlashInputError(
            f"the layout check found {len(blocking)} error(s), nothing was written "
            f"(first: {blocking[0].message}){hint}"
        )
