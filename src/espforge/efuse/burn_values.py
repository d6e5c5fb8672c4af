"""The bits a burn asks for, parsed from the command line and checked as espefuse checks them:
numbers, hex bytes, MAC addresses and key purposes."""

from __future__ import annotations

import binascii

from espforge.efuse.state import EfuseState
from espforge.efuse.table import EfuseError, FieldSpec

MAC_BYTES = 6


def parse_value(state: EfuseState, spec: FieldSpec, text: str | None) -> int:
    """The bits `text` asks for in `spec`, checked as espefuse checks them."""
    if spec.calculated or spec.kind in ("wafer", "pkg", "vref", "psram_cap"):
        raise EfuseError(f"Burning {spec.name} is not supported.")
    if spec.kind == "mac":
        return _mac_bits(spec, text)
    if spec.kind == "keypurpose":
        return _purpose_bits(state, text)
    if spec.is_bytes:
        return _bytes_bits(spec, text)
    if spec.type == "bool":
        number = 1 if text is None else _number(spec, text)
        if number != 1:
            raise EfuseError(
                f"New value is not accepted for eFuse '{spec.name}' (will always burn 0->1), "
                f"given value={number}"
            )
        return 1
    if text is None:
        if spec.kind != "bitcount":
            raise EfuseError(f"New value required for eFuse '{spec.name}' (given None)")
        old = state.raw(spec) | state.raw(spec, pending=True)
        return old | (old + 1)  # the lowest clear bit set
    number = _number(spec, text)
    if number == 0 and spec.kind != "bitcount":
        raise EfuseError(f"New value should not be 0 for '{spec.name}' (given value= 0)")
    return number


def check_fits(spec: FieldSpec, number: int) -> None:
    """espefuse checks the size only when it shows the new value (bitstring's wording)."""
    if number >> spec.bits:
        raise EfuseError(
            f"{number} is too large an unsigned integer for a bitstring of length {spec.bits}. "
            f"The allowed range is [0, {(1 << spec.bits) - 1}]."
        )


def _number(spec: FieldSpec, text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise EfuseError(
            f"'{text}' is not a number for {spec.name}: give it in decimal or 0x hex"
        ) from None


def _bytes_bits(spec: FieldSpec, text: str | None) -> int:
    """espefuse's rule: 0x… is the value as a number, plain hex lists the bytes in order."""
    if text is None:
        raise EfuseError(f"New value required for eFuse '{spec.name}' (given None)")
    try:
        data = binascii.unhexlify(text[2:])[::-1] if text.startswith("0x") else bytes.fromhex(text)
    except ValueError:
        raise EfuseError(f"'{text}' is not hex bytes for {spec.name}") from None
    return bits_of_bytes(spec, data)


def bits_of_bytes(spec: FieldSpec, data: bytes) -> int:
    if len(data) * 8 != spec.bits:
        raise EfuseError(
            f"The length of eFuse '{spec.name}' ({spec.bits} bits) "
            f"(given len of the new value= {len(data) * 8} bits)"
        )
    return int.from_bytes(data, "little")


def parse_mac(text: str | None) -> bytes:
    if text is None:
        raise EfuseError("Required MAC Address in AA:CD:EF:01:02:03 format!")
    if text.count(":") != MAC_BYTES - 1:
        raise EfuseError(
            f"MAC Address needs to be a {MAC_BYTES}-byte hexadecimal format "
            "separated by colons (:)!"
        )
    digits = text.replace(":", "").split(" ", 1)[0]  # " (OK)" may follow a copied MAC
    if len(digits) != 2 * MAC_BYTES:
        raise EfuseError(
            f"MAC Address needs to be a {MAC_BYTES}-byte hexadecimal number "
            f"({2 * MAC_BYTES} hexadecimal characters)!"
        )
    try:
        mac = bytes.fromhex(digits)
    except ValueError:
        raise EfuseError(f"'{text}' is not a MAC address: its bytes must be hex digits") from None
    if mac[0] & 1:
        raise EfuseError("Custom MAC must be a unicast MAC!")
    return mac


def _mac_bits(spec: FieldSpec, text: str | None) -> int:
    if spec.name != "CUSTOM_MAC":
        raise EfuseError(f"Burning {spec.name} is not supported.")
    return bits_of_bytes(spec, parse_mac(text))


def _purpose_bits(state: EfuseState, text: str | None) -> int:
    purpose = state.table.purpose(int(text) if text and text.isdigit() else (text or ""))
    if purpose.value <= 0:
        raise EfuseError(
            f"key purpose {purpose.name} cannot be burned: it is the blank state or only a "
            "name burn-key splits into two blocks"
        )
    return purpose.value
