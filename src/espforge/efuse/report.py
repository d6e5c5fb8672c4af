"""summary and dump: the eFuse contents as text or JSON, laid out as espefuse lays them out."""

from __future__ import annotations

import json
import re

from espforge.efuse import values
from espforge.efuse.state import EfuseState, RegisterAccess
from espforge.efuse.table import BlockSpec, EfuseError, FieldSpec

ROW = "%-50s %-50s%s = %s %s %s"
DESCRIPTION_WIDTH = 50
LONG_VALUE = 20  # longer values go on their own line


def permissions(readable: bool, writeable: bool) -> str:
    return ("R" if readable else "-") + "/" + ("W" if writeable else "-")


def field_info(state: EfuseState, spec: FieldSpec) -> str:
    text = f"{spec.name} (BLOCK{spec.block})"
    if state.field_failed(spec):
        text += "[error]"
    if spec.kind == "keyblock":
        purpose_field = state.blocks[spec.block].spec.key_purpose
        if purpose_field is not None:
            purpose = values.value(state, state.field(purpose_field))
            text += f"\n  Purpose: {purpose}\n "
    return text


def _shown_value(state: EfuseState, spec: FieldSpec, readable: bool) -> str:
    """The meaning, with 0s turned into ? where read protection hides the bits."""
    text = str(values.meaning(state, spec))
    if readable:
        return text
    if len(spec.rd_dis) == 2:
        # A block guarded by two bits (ESP32-C2 BLOCK_KEY0): each hides one half.
        halves = [text[: len(text) // 2], text[len(text) // 2 :]]
        return "".join(
            half if state.readable(spec.rd_dis, part) else half.replace("0", "?")
            for part, half in enumerate(halves)
        )
    return text.replace("0", "?") if state.raw(spec) == 0 else text


def _is_active(state: EfuseState, spec: FieldSpec, readable: bool, writeable: bool) -> bool:
    return (
        "[error]" in field_info(state, spec)
        or state.raw(spec) != 0
        or not readable
        or not writeable
    )


def summary(
    state: EfuseState, names: list[str], output_format: str = "summary", active: bool = False
) -> str:
    """The summary text (formats summary, value_only) or JSON, limited to `names` if given."""
    value_only = output_format in ("value_only", "value-only")
    if value_only and len(names) != 1:
        raise EfuseError(
            "The 'value_only' format can be used exactly for one eFuse. Name one field."
        )
    for name in names:
        state.field(name)  # unknown names are refused
    if output_format == "json":
        return _summary_json(state, names, active)
    lines: list[str] = []
    if not value_only:
        lines.append(
            ROW.replace("-50", "-12")
            % (
                "EFUSE_NAME (Block)",
                "Description",
                "",
                "[Meaningful Value]",
                "[Readable/Writeable]",
                "(Hex Value)",
            )
        )
        lines.append("-" * 88)
    for category in sorted({s.category for s in state.fields}, key=str.title):
        if not value_only:
            lines.append(f"{category.title()} fuses:")
        for spec in (s for s in state.fields if s.category == category):
            if names and spec.name not in names:
                continue
            readable = state.readable(spec.rd_dis)
            writeable = state.writeable(spec.wr_dis)
            if active and not _is_active(state, spec, readable, writeable):
                continue
            shown = _shown_value(state, spec, readable)
            if value_only:
                lines.append(shown)
                continue
            lines += _row(state, spec, shown, permissions(readable, writeable))
        if not value_only:
            if names and lines[-1] == f"{category.title()} fuses:":
                lines.pop()
            else:
                lines.append("")
    if not value_only:
        lines.append(flash_voltage_note(state))
        if any(b.failed for b in state.blocks):
            lines.append("WARNING: Coding scheme has encoding bit error warnings")
    return "\n".join(lines) + "\n"


def flash_voltage_note(state: EfuseState) -> str:
    for name, wanted, text in state.table.flash_voltage_note:
        if name is None or state.raw(state.field(name)) == wanted:
            return text
    return ""


def _row(state: EfuseState, spec: FieldSpec, shown: str, perms: str) -> list[str]:
    raw = "" if spec.is_bytes else f"({values.bit_text(state.raw(spec), spec.bits)})"
    newline = "\n  " if len(shown) > LONG_VALUE else ""
    description = spec.description
    lines = [
        ROW % (field_info(state, spec), description[:DESCRIPTION_WIDTH], newline, shown, perms, raw)
    ]
    for start in range(DESCRIPTION_WIDTH, len(description), DESCRIPTION_WIDTH):
        lines.append(f"{'':<50} {description[start : start + DESCRIPTION_WIDTH]:<50}")
    return lines


def _summary_json(state: EfuseState, names: list[str], active: bool) -> str:
    out = {}
    for spec in state.fields:
        if names and spec.name not in names:
            continue
        readable = state.readable(spec.rd_dis)
        writeable = state.writeable(spec.wr_dis)
        if active and not _is_active(state, spec, readable, writeable):
            continue
        out[spec.name] = {
            "name": spec.name,
            "value": values.meaning(state, spec) if readable else _shown_value(state, spec, False),
            "raw_value": values.raw_hex(state, spec),
            "readable": readable,
            "writeable": writeable,
            "description": spec.description,
            "category": spec.category,
            "block": spec.block,
            "word": spec.word,
            "pos": spec.pos,
            "efuse_type": spec.type,
            "bit_len": spec.bits,
        }
    return json.dumps(out, sort_keys=True, indent=4) + "\n"


def dump_lines(state: EfuseState, label: str = "dump") -> list[str]:
    """One line per block: name, aliases, index, `label` (espefuse's "dump" for the dump
    command, "read_regs" for its --debug reading) and its words, first word first."""
    return [
        block_line(block.spec, label, " ".join(f"{w:08x}" for w in block.words()))
        for block in state.blocks
    ]


# The controller's status registers espefuse's --debug shows after the blocks, those a chip has.
_STATUS_REGISTERS = (
    "EFUSE_REG_DEC_STATUS",
    "EFUSE_RD_RS_ERR_REG",
    "EFUSE_RD_RS_ERR0_REG",
    "EFUSE_RD_RS_ERR1_REG",
)


def status_register_lines(state: EfuseState, regs: RegisterAccess) -> list[str]:
    """espefuse's --debug lines after the blocks: BLOCK0's error registers (its "err__regs",
    one word per BLOCK0 word from the first), then each status register by name."""
    lines = [""]
    block0_errors = state.table.registers.get("BLOCK0_ERRORS")
    if block0_errors:
        block0 = state.blocks[0]
        words = [regs.read_reg(block0_errors[0] + 4 * i) for i in range(block0.width // 32)]
        lines.append(block_line(block0.spec, "err__regs", " ".join(f"{w:08x}" for w in words)))
    registers = state.table.registers
    lines += [
        f"{name:27} 0x{regs.read_reg(registers[name]):08x}"
        for name in _STATUS_REGISTERS
        if name in registers
    ]
    return lines


def block_line(spec: BlockSpec, label: str, words: str) -> str:
    """espefuse's line for a block's words: name, aliases, index, what they are, the words."""
    aliases = " ".join(spec.aliases)[:16]
    return f"{spec.name:<15s} ({aliases:<16s}) [{spec.index:<2d}] {label}: {words}"


def block_dump_bytes(state: EfuseState) -> list[bytes]:
    """Each block's bytes as espefuse writes them to a dump file (little-endian words)."""
    return [block.bits.to_bytes(block.width // 8, "little") for block in state.blocks]


def adc_info_lines(state: EfuseState) -> list[str]:
    """espefuse's adc-info text: the block version, then the calibration values it has."""
    layout = state.table.adc_info
    if layout is None:
        return _vref_adc_info(state)
    lines = list(layout["head"])
    threshold = layout["from_block_version"]
    if threshold is not None and state.block_version() >= threshold:
        lines += layout["body"]
    return [
        re.sub(r"\{([A-Z0-9_]+)\}", lambda m: _placeholder(state, m[1]), line) for line in lines
    ]


def _placeholder(state: EfuseState, name: str) -> str:
    if name == "BLOCK_VERSION":
        return str(state.block_version())
    return str(values.value(state, state.field(name)))


def _vref_adc_info(state: EfuseState) -> list[str]:
    """Tables without an adc-info layout (ESP32): the ADC reference voltage, and the two-point
    readings when BLOCK3 holds them."""
    table = state.table
    if not table.has_field("ADC_VREF"):
        return []
    vref = table.field("ADC_VREF")
    if state.raw(vref) == 0:
        lines = ["ADC VRef calibration: None (1100mV nominal)"]
    else:
        lines = [f"ADC VRef calibration: {values.value(state, vref)}mV"]
    if table.has_field("BLK3_PART_RESERVE") and state.raw(table.field("BLK3_PART_RESERVE")):
        lines.append("ADC readings stored in eFuse BLOCK3:")
        for adc in ("ADC1", "ADC2"):
            for level, name in (("Low reading  (150mV)", "LOW"), ("High reading (850mV)", "HIGH")):
                reading = values.value(state, table.field(f"{adc}_TP_{name}"))
                lines.append(f"    {adc} {level}: {reading}")
    return lines
