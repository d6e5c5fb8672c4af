"""What a field's bits mean, shown the way espefuse shows them."""

from __future__ import annotations

from espforge.efuse.state import EfuseState
from espforge.efuse.table import FieldSpec

ADC_POINT_STEP = 4  # ADC calibration points are stored in steps of 4
VREF_MV, VREF_STEP_MV = 1100, 7  # ESP32 ADC reference: 1100 mV ideal, 7 mV per count
CRC8_POLY = 0x8C  # the ESP32 ROM's esp_crc8: reflected CRC-8, initial value 0


def bit_text(value: int, width: int) -> str:
    """Bits as 0x… when they make whole hex digits, else as 0b…."""
    if width % 4 == 0:
        return f"0x{value:0{width // 4}x}"
    return f"0b{value:0{width}b}"


def _signed(value: int, width: int) -> int:
    """Sign-and-magnitude: the top bit is the sign."""
    magnitude = value & ((1 << (width - 1)) - 1)
    return -magnitude if value >> (width - 1) else magnitude


def _twos_complement(value: int, width: int) -> int:
    sign = 1 << (width - 1)
    return (value & (sign - 1)) - (value & sign)


def _mac_bytes(state: EfuseState, spec: FieldSpec, pending: bool) -> bytes:
    width = spec.bits // 8
    if spec.name == "MAC_EUI64":
        mac = _mac_bytes(state, state.field("MAC"), pending)
        ext = state.raw(state.field("MAC_EXT"), pending).to_bytes(2, "big")
        return mac[:3] + ext + mac[3:]
    order = "little" if spec.name == "CUSTOM_MAC" else "big"
    return state.raw(spec, pending).to_bytes(width, order)


def crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (CRC8_POLY if crc & 1 else 0)
    return crc


def mac_check(state: EfuseState, spec: FieldSpec, mac: bytes, pending: bool = False) -> str:
    crc_field = state.table.mac_crc.get(spec.name)
    if crc_field is not None:
        stored = state.raw(state.field(crc_field), pending)
        if stored == crc8(mac):
            return f"(CRC {stored:#04x} OK)"
        return f"(CRC {stored:#04x} invalid - calculated {crc8(mac):#04x})"
    block = state.block_of(spec)
    if block.num_errors or block.failed:
        return f"(Block{spec.block} has ERRORS:{block.num_errors} FAIL:{block.failed})"
    return "(OK)"


def value(state: EfuseState, spec: FieldSpec, pending: bool = False) -> bool | int | float | str:
    """The field's value: bool, int, float or text, as espefuse's get() gives it."""
    raw = state.raw(spec, pending)
    kind = spec.kind
    if kind == "mac":
        mac = _mac_bytes(state, spec, pending)
        return ":".join(f"{b:02x}" for b in mac) + " " + mac_check(state, spec, mac, pending)
    if kind == "keypurpose":
        return next((p.name for p in state.table.key_purposes if p.value == raw), "FORBIDDEN_STATE")
    if kind == "t_sensor":
        return _signed(raw, spec.bits) * 0.1
    if kind == "adc_tp":
        # A two-point ADC reading: the table's nominal offset plus a signed delta in steps.
        return spec.kind_args["offset"] + _twos_complement(raw, spec.bits) * ADC_POINT_STEP
    if kind == "vref":
        return VREF_MV + _signed(raw, spec.bits) * VREF_STEP_MV
    if kind == "spipin":
        return raw + 2 if raw >= 30 else raw  # pins 30 and 31 stand for GPIO32 and 33
    if spec.is_bytes:
        return " ".join(f"{b:02x}" for b in raw.to_bytes(spec.bits // 8, "little"))
    if spec.type == "bool":
        return bool(raw)
    return raw


def meaning(state: EfuseState, spec: FieldSpec) -> bool | int | float | str:
    if spec.meanings:
        text = spec.meanings.get(state.raw(spec))
        if text is not None:
            return text
    return value(state, spec)


def raw_hex(state: EfuseState, spec: FieldSpec) -> str:
    """The JSON raw_value: 0x… of the bits (bytes fields in their displayed byte order)."""
    raw = state.raw(spec)
    if spec.is_bytes:
        return "0x" + raw.to_bytes(spec.bits // 8, "little").hex()
    return f"0x{raw:0{-(-spec.bits // 4)}x}"
