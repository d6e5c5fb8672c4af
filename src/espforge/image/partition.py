"""One partition-table entry: the numbers and names of types, subtypes and flags, how numbers
and sizes are written, and the `Partition` record itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from espforge.errors import ImageError

APP, DATA, BOOTLOADER, PARTITION_TABLE = 0x00, 0x01, 0x02, 0x03
CUSTOM_TYPES = range(0x40, 0xFF)
SUBTYPE_RANGE = range(0x00, 0xFF)  # 0xFF means "any" to ESP-IDF's API, never a stored value
OTA_SUBTYPES = range(0x10, 0x20)
FACTORY, OTADATA, COREDUMP, NVS, UNDEFINED = 0x00, 0x00, 0x03, 0x02, 0x06
PRIMARY = 0x00

TYPE_NAMES: Mapping[str, int] = {
    "app": APP,
    "data": DATA,
    "bootloader": BOOTLOADER,
    "partition_table": PARTITION_TABLE,
}
SUBTYPE_NAMES: Mapping[int, Mapping[str, int]] = {
    APP: {
        "factory": FACTORY,
        **{f"ota_{index}": OTA_SUBTYPES[index] for index in range(len(OTA_SUBTYPES))},
        "test": 0x20,
        "tee_0": 0x30,
        "tee_1": 0x31,
    },
    DATA: {
        "ota": OTADATA,
        "phy": 0x01,
        "nvs": NVS,
        "coredump": COREDUMP,
        "nvs_keys": 0x04,
        "efuse": 0x05,
        "undefined": UNDEFINED,
        "esphttpd": 0x80,
        "fat": 0x81,
        "spiffs": 0x82,
        "littlefs": 0x83,
    },
    BOOTLOADER: {"primary": PRIMARY, "ota": 0x01, "recovery": 0x02},
    PARTITION_TABLE: {"primary": PRIMARY, "ota": 0x01},
}
FLAG_BITS: Mapping[str, int] = {"encrypted": 0, "readonly": 1}

APP_OFFSET_ALIGN = 0x10000
OFFSET_ALIGN = 0x1000  # every type but app


def offset_alignment(partition_type: int) -> int:
    return APP_OFFSET_ALIGN if partition_type == APP else OFFSET_ALIGN


def type_name(partition_type: int) -> str | None:
    return next((name for name, value in TYPE_NAMES.items() if value == partition_type), None)


def subtype_name(partition_type: int, subtype: int) -> str | None:
    names = SUBTYPE_NAMES.get(partition_type, {})
    return next((name for name, value in names.items() if value == subtype), None)


def size_text(size: int) -> str:
    """A size as ESP-IDF's generator writes it: NM or NK where exact, else hex."""
    for unit, suffix in ((0x100000, "M"), (0x400, "K")):
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return f"{size:#x}"


def resolve_type(value: int | str) -> int:
    """A type given as a name (any case) or a number."""
    if isinstance(value, int):
        return value
    return _keyword_or_number(value.strip(), TYPE_NAMES, "type")


def resolve_subtype(partition_type: int, value: int | str) -> int:
    if isinstance(value, int):
        return value
    return _keyword_or_number(value.strip(), SUBTYPE_NAMES.get(partition_type, {}), "subtype")


def _keyword_or_number(text: str, keywords: Mapping[str, int], what: str) -> int:
    if text.lower() in keywords:
        return keywords[text.lower()]
    try:
        return parse_number(text, what)
    except ImageError:
        known = f" or one of {', '.join(keywords)}" if keywords else ""
        raise ImageError(f"{what} '{text}' is not known: give a number{known}") from None


def parse_number(text: str, what: str = "value") -> int:
    """Decimal or 0x hex, with an optional K or M suffix (x1024, x1024*1024)."""
    factor = {"k": 1024, "m": 1024 * 1024}.get(text[-1:].lower(), 1)
    digits = text[:-1] if factor > 1 else text
    try:
        return int(digits, 0) * factor
    except ValueError:
        raise ImageError(
            f"{what} '{text}' is not a number (write it in decimal or 0x hex, "
            "optionally followed by K or M)"
        ) from None


def is_primary_boot_entry(ptype: int, subtype: int) -> bool:
    """bootloader/primary and partition_table/primary describe what lies below the table."""
    return ptype in (BOOTLOADER, PARTITION_TABLE) and subtype == PRIMARY


@dataclass(frozen=True)
class Partition:
    """One table entry. `origin` says where it came from ("line 4", "entry 2") for messages."""

    name: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: tuple[str, ...] = ()
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # One spelling per flag set, in bit order, so equal partitions compare equal.
        known = [flag for flag in FLAG_BITS if flag in self.flags]
        unknown = sorted(set(self.flags) - set(FLAG_BITS))
        object.__setattr__(self, "flags", (*known, *unknown))

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def encrypted(self) -> bool:
        return "encrypted" in self.flags

    @property
    def readonly(self) -> bool:
        return "readonly" in self.flags

    @property
    def is_app(self) -> bool:
        return self.type == APP

    @property
    def is_ota_app(self) -> bool:
        return self.type == APP and self.subtype in OTA_SUBTYPES

    @property
    def is_otadata(self) -> bool:
        return self.type == DATA and self.subtype == OTADATA

    @property
    def type_label(self) -> str:
        """The type's name, or its number in hex for custom types."""
        return type_name(self.type) or f"{self.type:#04x}"

    @property
    def subtype_label(self) -> str:
        return subtype_name(self.type, self.subtype) or f"{self.subtype:#04x}"

    @property
    def described(self) -> str:
        """How messages name it: "line 4 (partition 'factory')" or "partition 'factory'"."""
        label = f"partition '{self.name}'"
        return f"{self.origin} ({label})" if self.origin else label

    def overlaps(self, start: int, end: int) -> bool:
        return self.offset < end and start < self.end
