"""espefuse's commands over an eFuse session: reads run at once, burns queue into one plan.

The plan is checked as a whole, shown, confirmed (typing BURN unless do_not_confirm) and only
then programmed, so a refused or aborted plan writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from espforge.efuse import burn, report, token, values
from espforge.efuse.burn_values import bits_of_bytes, check_fits, parse_mac, parse_value
from espforge.efuse.coding import CODING_NONE
from espforge.efuse.programmer import Programmer
from espforge.efuse.state import EfuseState, RegisterAccess
from espforge.efuse.table import EfuseError, EfuseTable, FieldSpec, KeyPurpose

KEY_BYTES = 32
SPLIT_HALVES = ("ECDSA_KEY_P384_H", "ECDSA_KEY_P384_L")  # raw halves: no PEM to read
ECDSA_PADDED_BYTES = {24: 32, 48: 64}  # P-192 and P-384 keys are zero-padded in front


@dataclass
class SessionOptions:
    do_not_confirm: bool = False
    postpone: bool = True
    debug: bool = False
    crystal_mhz: int | None = None  # sets the programming timing; None: the chip's usual


@dataclass
class EfuseSession:
    table: EfuseTable
    regs: RegisterAccess
    options: SessionOptions = field(default_factory=SessionOptions)
    out: Callable[[str], None] = print
    ask: Callable[[], str] = input
    changes: list[burn.Change] = field(default_factory=list)
    # --force-write-always: burn over protections and non-empty coded blocks anyway; None
    # while no command given has the option (espefuse's refusals then do not name it)
    force_write_always: bool | None = None
    show_sensitive_info: bool = False  # show key bytes in the plan instead of ??
    show_token: bool = False  # print the plan's EFSW token before asking to confirm
    # what each burn command checks once its bits are burned (espefuse's "Checking eFuses...")
    post_checks: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = EfuseState.read(self.table, self.regs)
        if self.options.debug:
            self.out("\n".join(report.dump_lines(self.state)))

    # --- reading ---

    def summary(
        self, names: list[str], output_format: str = "summary", active: bool = False
    ) -> str:
        return report.summary(self.state, names, output_format, active)

    def dump_text(self) -> str:
        return "\n".join(report.dump_lines(self.state)) + "\n"

    def dump_blocks(self) -> list[bytes]:
        return report.block_dump_bytes(self.state)

    def get_custom_mac(self) -> str:
        mac = values.value(self.state, self.state.field("CUSTOM_MAC"))
        if self.table.custom_mac_version is None:
            return f"Custom MAC Address: {mac}"
        version = self.state.raw(self.state.field(self.table.custom_mac_version))
        if version == 0:
            return "Custom MAC Address is not set in the device."
        return f"Custom MAC Address version {version}: {mac}"

    def check_error(self) -> list[str]:
        """One line per block the coding scheme reports as faulty."""
        return [
            f"Error(s) in BLOCK{b.index} [ERRORS:{b.num_errors} FAIL:{b.failed}]."
            for b in self.state.blocks
            if b.failed or b.num_errors
        ]

    def error_details(self) -> list[str]:
        """What each faulty block (BLOCK0: each faulty field) holds, and whether it can be fixed."""
        state = self.state
        lines = []
        fixable = True
        for block in state.blocks:
            if not (block.failed or block.num_errors):
                continue
            if block.index == 0:
                items = [
                    (s.name, str(values.value(state, s)), state.writeable(s.wr_dis))
                    for s in state.fields
                    if s.block == 0 and state.field_failed(s)
                ]
            else:
                name = f"{block.spec.name} [ERRORS:{block.num_errors} FAIL:{int(block.failed)}]"
                bits = values.bit_text(block.bits, block.width)
                items = [(name, bits, state.writeable(block.spec.wr_dis))]
            for name, value, writeable in items:
                fixable &= writeable
                access = "writable" if writeable else "not writable"
                lines.append(f"BLOCK{block.index:<2}: {name:<40} = {value:<8} ({access})")
        if lines and not fixable:
            lines.append("Not all errors can be fixed because some fields are write-protected!")
        return lines

    def recover(self) -> bool:
        """Burn faulty blocks again with what they hold, so their check bits agree again."""
        faulty = [b for b in self.state.blocks if (b.failed or b.num_errors) and b.bits]
        if not faulty:
            return False
        self.out("Recovery of block coding errors. This is an irreversible operation!")
        if not self._confirmed():
            return False
        programmer = Programmer(self.state, self.regs, self.options.crystal_mhz, self.out)
        for block in reversed(faulty):
            block.pending = block.bits
            programmer.burn_block(block, verify=False)
        self.state.reload(self.regs)
        return True

    # --- queueing burns ---

    def _queue(self, spec: FieldSpec, bits: int, shown_as: str | None = None) -> burn.Change:
        """Queue a field. With `shown_as` (espefuse's way of writing the new value, "" for the
        usual one) the change is printed as espefuse prints it when it queues it."""
        change = burn.describe(self.state, spec, bits)
        if shown_as:
            change.new = shown_as
        show = shown_as is not None
        force = self.force_write_always
        self.changes.append(burn.queue_field(self.state, spec, bits, force, self.out, change, show))
        return change

    def _queue_protect(self, name: str, read: bool) -> None:
        force = self.force_write_always
        self.changes.append(burn.queue_protect(self.state, name, read, force, self.out))

    def _unique(self, names: list[str]) -> None:
        repeated = [name for i, name in enumerate(names) if name in names[:i]]
        if repeated:
            raise EfuseError(f"Found repeated {repeated} in the name list.")

    def burn_efuses(self, pairs: list[tuple[str, str | None]]) -> None:
        """espefuse's burn-efuse: the fields by block, then each line of the plan as queued."""
        specs = [self.state.field(name) for name, _ in pairs]
        self._unique([spec.name for spec in specs])
        wanted = [
            parse_value(self.state, spec, text)
            for spec, (_, text) in zip(specs, pairs, strict=True)
        ]
        self.out("The eFuses to burn:")
        for block in self.state.blocks:
            in_block = [spec for spec in specs if spec.block == block.index]
            if in_block:
                self.out(f"  from BLOCK{block.index}")
                self.out("\n".join(f"     - {spec.name}" for spec in in_block))
        self.out("\nBurning eFuses:")
        for spec, bits in zip(specs, wanted, strict=True):
            check_fits(spec, bits)
            self._queue(spec, bits, shown_as="")
        self.out("")
        self._warn_connection_loss([spec.name for spec in specs])
        self.post_checks.append(lambda: self._check_fields(specs, wanted))

    def _warn_connection_loss(self, names: list[str]) -> None:
        """espefuse's warnings for the eFuses that end the tools' access to the chip."""
        warnings = {
            "ENABLE_SECURITY_DOWNLOAD": "eFuses will not be read back for confirmation because "
            "this mode disables any SRAM and register operations.\nespefuse will not work.\n"
            "esptool can read/write only flash.",
            "DIS_DOWNLOAD_MODE": "eFuses will not be read back for confirmation because this "
            "mode disables any communication with the chip.\nespefuse/esptool will not work "
            "because they will not be able to connect to the chip.",
        }
        if self.state.chip_revision() >= 300:
            warnings["UART_DOWNLOAD_DIS"] = (
                "eFuses will be read for confirmation, but after that connection to the chip "
                "will become impossible.\nespefuse/esptool will not work."
            )
        for name, text in warnings.items():
            if name in names:
                pad = " " * (len(name) + 7)  # under the text after "NAME -> 1: "
                self.out(f"{name} -> 1: " + text.replace("\n", "\n" + pad))

    def _check_fields(self, specs: list[FieldSpec], wanted: list[int]) -> None:
        self.out("Checking eFuses...")
        failed = False
        for spec, bits in zip(specs, wanted, strict=True):
            if not self.state.readable(spec.rd_dis):
                self.out(
                    f"Efuse {spec.name} is read-protected. "
                    "Read back the burn value is not possible."
                )
            elif self.state.raw(spec) != bits:
                burned = values.bit_text(self.state.raw(spec), spec.bits)
                self.out(
                    f"{burned} -> {values.bit_text(bits, spec.bits)} "
                    f"Efuse {spec.name} failed to burn. Protected?"
                )
                failed = True
        if failed:
            raise EfuseError("The burn was not successful.")

    def protect(self, names: list[str], read: bool) -> None:
        """espefuse's read-protect-efuse / write-protect-efuse: names what shares the bit."""
        self._unique(names)
        what = "read" if read else "write"
        specs = [self.state.field(name) for name in names]
        for spec in specs:
            bits = burn.protect_bits(spec, read)
            unprotected = self.state.readable if read else self.state.writeable
            if bits and not unprotected(bits if read else bits[0]):
                ending = "" if read else "."
                self.out(f"Efuse {spec.name} is already {what} protected{ending}")
                continue
            if read:
                self._refuse_needed_key(spec)
            if bits:
                sharing = [s.name for s in self.state.fields if burn.protect_bits(s, read) == bits]
                plural = "s" if len(sharing) > 1 else ""
                self.out(f"Permanently {what}-disabling eFuse{plural} {', '.join(sharing)}")
            self._queue_protect(spec.name, read)
        self.post_checks.append(lambda: self._check_protected(specs, read))

    def _refuse_needed_key(self, spec: FieldSpec) -> None:
        """A key block whose purpose the hardware reads back must stay readable."""
        block = self.table.blocks[spec.block]
        if block.key_purpose is None or spec.name not in block.all_names:
            return
        purpose = values.value(self.state, self.state.field(block.key_purpose))
        if not self.table.purpose(str(purpose)).read_protect:
            raise EfuseError(f"{spec.name} must be readable, stop this operation!")

    def _check_protected(self, specs: list[FieldSpec], read: bool) -> None:
        self.out("Checking eFuses...")
        what = "read" if read else "write"
        still_open = [
            spec
            for spec in specs
            if (self.state.readable(spec.rd_dis) if read else self.state.writeable(spec.wr_dis))
        ]
        for spec in still_open:
            self.out(f"Efuse {spec.name} is not {what}-protected.")
        if still_open:
            raise EfuseError("The burn was not successful.")

    def burn_block_data(self, items: list[tuple[str, bytes]], offset: int = 0) -> None:
        self._unique([name for name, _ in items])
        if offset and len(items) > 1:
            raise EfuseError(
                "The 'offset' option is not applicable when a few blocks are passed. "
                "With 'offset', should only one block be used."
            )
        for name, data in items:
            block = self.state.block_for_name(name)
            padded = burn.queue_block_data(self.state, block, data, offset)
            self.out(
                f"[{block.index:02d}] {block.spec.name:20} size={len(padded):02d} bytes, "
                f"offset={offset:02d} -> [{padded.hex(' ')}]"
            )
            self.changes.append(
                burn.Change(
                    block.spec.name, f"{len(data)} bytes at offset {offset}", "", data.hex()
                )
            )

    def burn_bits(self, name: str, bits: list[int]) -> None:
        block = self.state.block_for_name(name)
        wanted = 0
        for bit in bits:
            if not 0 <= bit < block.width:
                raise EfuseError(f"{name} has bit_number in [0..{block.width - 1}]")
            wanted |= 1 << bit
        self.out(f"bit_number:   [{block.width - 1:03d}]" + "." * 56 + "[0]")
        self.out(f"BLOCK{block.index:>2d}   : {values.bit_text(wanted, block.width)}")
        words = " ".join(f"{wanted >> (32 * i) & 0xFFFFFFFF:08x}" for i in range(block.word_count))
        self.out(report.block_line(block.spec, "regs_to_write", words))
        burn.queue_block_data(self.state, block, wanted.to_bytes(block.width // 8, "little"), 0)
        self.changes.append(burn.Change(block.spec.name, "bits", "", ", ".join(map(str, bits))))

    def burn_custom_mac(self, mac: str) -> None:
        """CUSTOM_MAC, plus (ESP32) its MAC_VERSION 1 and its CRC; each line shown as queued."""
        state = self.state
        spec = state.field("CUSTOM_MAC")
        bits = parse_value(state, spec, mac)
        if self.table.custom_mac_version is not None:
            version = state.field(self.table.custom_mac_version)
            current = state.raw(version)
            if current not in (0, 1):
                raise EfuseError(f"{version.name} = {current}, should be 0 or 1.")
            if current == 0:
                self._queue(version, 1, shown_as=hex(1))
        self._queue(spec, bits, shown_as="")
        crc_field = self.table.mac_crc.get(spec.name)
        if crc_field is not None:
            crc = values.crc8(parse_mac(mac))
            self._queue(state.field(crc_field), crc, shown_as=hex(crc))
        self.post_checks.append(lambda: self.out(self.get_custom_mac()))

    def set_flash_voltage(self, voltage: str) -> None:
        """OFF, 1.8V or 3.3V through the note's three fields: force, regulator, 3.3 V tie."""
        fields = [name for name, _, _ in self.table.flash_voltage_note if name is not None]
        if len(fields) != 3:
            raise EfuseError(f"{self.table.chip} has no flash-voltage eFuses to set")
        force, regulator, tieh = (self.state.field(name) for name in fields)
        tieh_burned = self.state.raw(tieh) != 0
        if voltage == "OFF" and self.state.raw(regulator):
            raise EfuseError(
                f"Can't set flash regulator to OFF as {regulator.name} eFuse is already burned."
            )
        if voltage == "1.8V" and tieh_burned:
            raise EfuseError(f"Can't set regulator to 1.8V is {tieh.name} eFuse is already burned.")
        later = "to 3.3V" if tieh_burned else "to 1.8V or 3.3V"
        plans = {
            "OFF": (
                [force],
                "Disable internal flash voltage regulator (VDD_SDIO). SPI flash will need to be "
                f"powered from an external source.\nThe following eFuse is burned: {force.name}."
                f"\nIt is possible to later re-enable the internal regulator{later}"
                "by burning an additional eFuse.",
            ),
            "1.8V": (
                [force, regulator],
                "Set internal flash voltage regulator (VDD_SDIO) to 1.8V.\nThe following eFuses "
                f"are burned: {force.name}, {regulator.name}.\nIt is possible to later increase "
                f"the voltage to 3.3V (permanently) by burning additional eFuse {tieh.name}.",
            ),
            "3.3V": (
                [force, regulator, tieh],
                "Enable internal flash voltage regulator (VDD_SDIO) to 3.3V.\nThe following "
                f"eFuses are burned: {force.name}, {regulator.name}, {tieh.name}.",
            ),
        }
        if voltage not in plans:
            raise EfuseError(f"'{voltage}' is not a flash voltage: use 1.8V, 3.3V or OFF")
        specs, text = plans[voltage]
        self.out(text)
        for spec in specs:
            self._queue(spec, 1)
        self.out("VDD_SDIO setting complete.")

    def burn_keys(
        self,
        items: list[tuple[str, bytes, str]],
        no_write_protect: bool = False,
        no_read_protect: bool = False,
    ) -> None:
        """Each (block, key, purpose): the key, its purpose and the protections it needs.

        A 512-bit purpose (XTS_AES_256_KEY, ECDSA_KEY_P384) takes the given block and the next
        free one; an ECDSA purpose takes a PEM private key."""
        used = []
        self.out("Burn keys to blocks:")
        for block_name, data, purpose_name in self._split_keys(items):
            block = self.state.block_for_name(block_name)
            if block.spec.key_purpose is None and not self.table.key_targets:
                keys = ", ".join(b.name for b in self.table.blocks if b.key_purpose)
                raise EfuseError(f"{block.spec.name} is not a key block: use one of {keys}")
            if block.index in used:
                raise EfuseError(f"{block.spec.name} is given twice: use one key per block")
            used.append(block.index)
            self._queue_key(block.spec.name, data, purpose_name, no_write_protect, no_read_protect)
        if no_write_protect:
            self.out("Keys will remain writeable (due to --no-write-protect).")
        if no_read_protect:
            self.out("Keys will remain readable (due to --no-read-protect).")

    def _split_keys(self, items: list[tuple[str, bytes, str]]) -> list[tuple[str, bytes, str]]:
        known = {p.name for p in self.table.key_purposes if p.value >= 0}  # < 0: virtual
        named = [block for block, _, _ in items]
        out = []
        for block, data, purpose in items:
            if purpose.startswith("ECDSA_KEY") and purpose not in SPLIT_HALVES:
                data = _ecdsa_private_bytes(data, f"the key for {block}")
            halves = next(
                (pair for pair in (("_1", "_2"), ("_H", "_L")) if purpose + pair[0] in known),
                None,
            )
            if purpose in known or halves is None:
                out.append((block, data, purpose))
                continue
            if len(data) != 2 * KEY_BYTES:
                raise EfuseError(f"{purpose} needs a 64-byte key, not {len(data)} bytes")
            second = self._next_free_key_block(block, named + [b for b, _, _ in out])
            out.append((block, data[:KEY_BYTES], purpose + halves[0]))
            out.append((second, data[KEY_BYTES:], purpose + halves[1]))
        return out

    def _next_free_key_block(self, after: str, taken: list[str]) -> str:
        """The first empty, unprotected USER key block from `after` on (wrapping round)."""
        state = self.state
        keys = [b for b in state.blocks if b.spec.key_purpose]
        start = keys.index(state.block_for_name(after))
        for block in keys[start:] + keys[:start]:
            purpose = state.field(block.spec.key_purpose)
            free = (
                not set(block.spec.all_names) & set(taken)
                and state.readable(block.spec.rd_dis)
                and state.writeable(block.spec.wr_dis)
                and state.raw(purpose) == 0
                and state.writeable(purpose.wr_dis)
                and block.bits == 0
            )
            if free:
                return block.spec.name
        raise EfuseError("a 512-bit key needs two free key blocks: there is only one")

    def burn_plain_keys(self, items: list[tuple[str, bytes]], no_protect_key: bool) -> None:
        """Chips without key purposes (ESP32): each (block, key); flash-encryption and secure
        boot v1 keys are reversed and read-protected, every key write-protected."""
        self.out("Burn keys to blocks:")
        for name, data in items:
            block = self.state.block_for_name(name)
            key_field = self.state.field(block.spec.name)
            reverse = name in self.table.reversed_key_names
            note = "\tReversing the byte order..." if reverse else None
            self._queue_key_data(key_field, data[::-1] if reverse else data, note)
            if reverse and not no_protect_key:
                self.out("\tDisabling read to key block...")
                self._queue_protect(key_field.name, True)
            if not no_protect_key:
                self.out("\tDisabling write to key block...")
                self._queue_protect(key_field.name, False)
            self.out("")
        if no_protect_key:
            self.out("Key is left unprotected as per --no-protect-key argument.")
            protection = "will be left readable and writeable (due to --no-protect-key)."
        else:
            protection = "will be read and write protected (no further changes or readback)."
        self.out(f"Burn keys in eFuse blocks.\nThe key block {protection} \n")

    def _queue_key(
        self,
        block_name: str,
        data: bytes,
        purpose_name: str,
        no_write_protect: bool,
        no_read_protect: bool,
    ) -> None:
        state = self.state
        purpose = self.table.purpose(purpose_name)
        key_field = state.field(self.table.key_targets.get(purpose.name, block_name))
        if purpose.digest and len(data) * 8 > key_field.bits:
            data = data[: key_field.bits // 8]  # a half block keeps the digest's left-most bytes
        # The AES-XTS and ECDSA peripherals read their keys backwards.
        if purpose.reverse:
            self._queue_key_data(key_field, data[::-1], self._reversing_note(purpose))
        else:
            self._queue_key_data(key_field, data)
        purpose_field = state.block_of(key_field).spec.key_purpose
        if purpose_field is not None:
            self._queue_purpose(purpose_field, purpose)
        flag = self.table.key_flags.get(purpose.name)
        if flag is not None and state.table.has_field(flag) and not state.raw(state.field(flag)):
            self._queue(state.field(flag), 1)
        if purpose.read_protect and not no_read_protect:
            self.out("\tDisabling read to key block...")
            self._queue_protect(key_field.name, True)
        if not no_write_protect:
            self.out("\tDisabling write to key block...")
            self._queue_protect(key_field.name, False)
        self.out("")

    def _shown_key(self, data: bytes) -> str:
        return data.hex(" ") if self.show_sensitive_info else " ".join(["??"] * len(data))

    def _reversing_note(self, purpose: KeyPurpose) -> str:
        """espefuse names the peripheral AES-XTS on chips where only AES-XTS keys are reversed,
        else the key purpose."""
        reversed_names = [p.name for p in self.table.key_purposes if p.reverse]
        only_xts = all(name.startswith("XTS_AES") for name in reversed_names)
        peripheral = "AES-XTS" if only_xts else purpose.name
        return f"\tReversing byte order for {peripheral} hardware peripheral..."

    def _queue_key_data(self, key_field: FieldSpec, data: bytes, note: str | None = None) -> None:
        """Queue a key into an empty key field, shown as ?? unless asked to show it; `note`
        says how the key was turned round."""
        shown = self._shown_key(data)
        self.out(f" - {key_field.name} -> [{shown}]")
        if note:
            self.out(note)
        size = key_field.bits // 8
        if len(data) != size:
            raise EfuseError(
                f"Incorrect key file size {len(data)}. Key file must be {size} "
                f"bytes ({size * 8} bits) of raw binary key data."
            )
        bits = bits_of_bytes(key_field, data)
        change = burn.queue_field(self.state, key_field, bits, self.force_write_always, self.out)
        if self.state.raw(key_field) and not change.note and not self.force_write_always:
            raise EfuseError(f"{key_field.name} already holds a key: choose an empty key block")
        change.new = f"({shown})"
        self.changes.append(change)

    def _queue_purpose(self, purpose_field: str, purpose: KeyPurpose) -> None:
        state = self.state
        spec = state.field(purpose_field)
        if purpose.name in self.table.forbidden_purposes.get(purpose_field, ()):
            raise EfuseError(
                f"{purpose_field} cannot be {purpose.name} (a hardware bug of that key block): "
                "use another key block"
            )
        if state.raw(spec) != purpose.value:
            if not state.writeable(spec.wr_dis):
                raise EfuseError(
                    f"It is not possible to change '{purpose_field}' to '{purpose.name}' "
                    "because write protection bit is set."
                )
            current = values.value(state, spec)
            self.out(f"\t'{purpose_field}': '{current}' -> '{purpose.name}'.")
            self._queue(spec, purpose.value)
        else:
            self.out(f"\t'{purpose_field}' is already '{purpose.name}'.")
        if state.writeable(spec.wr_dis):
            self.out(f"\tDisabling write to '{purpose_field}'...")
            self._queue_protect(purpose_field, False)

    def burn_block_digest(
        self,
        pem: bytes,
        source: str,
        no_protect_key: bool = False,
        no_write_protect: bool = False,
        no_read_protect: bool = False,
    ) -> None:
        """Chips whose burn-key-digest takes just KEYFILE: the Secure Boot v2 digest in the
        table's digest block, as a key of the table's purpose or else raw (ESP32 v3.0+)."""
        rule = self.table.digest_block
        if rule is None:
            raise EfuseError(f"{self.table.chip} takes burn-key-digest BLOCK KEYFILE KEYPURPOSE")
        if "purpose" in rule:
            item = (rule["block"], pem, source, rule["purpose"])
            self.burn_key_digests([item], no_write_protect, no_read_protect)
            return
        if self.state.coding_scheme != CODING_NONE:
            raise EfuseError("burn-key-digest only works with 'None' coding scheme")
        revision = self.state.chip_revision()
        if revision < rule["min_revision"]:
            raise EfuseError(
                "Incorrect chip revision for Secure boot v2. "
                f"Detected: v{revision // 100}.{revision % 100}. "
                f"Expected: >= v{rule['min_revision'] // 100}.{rule['min_revision'] % 100}"
            )
        key_field = self.state.field(rule["block"])
        digest = _sbv2_digest(pem, source)
        self.out(f" - {key_field.name} -> [{self._shown_key(digest)}]")
        bits = bits_of_bytes(key_field, digest)
        self._queue(key_field, bits)
        if not no_protect_key:
            self.out(f"Disabling write to eFuse {key_field.name}...")
            self._queue_protect(key_field.name, False)

    def burn_key_digests(
        self,
        items: list[tuple[str, bytes, str, str]],
        no_write_protect: bool = False,
        no_read_protect: bool = False,
    ) -> None:
        """Each (block, PEM key, its file name, purpose): burns the Secure Boot v2 key digest."""
        digests = [
            (block, _sbv2_digest(pem, source), purpose) for block, pem, source, purpose in items
        ]
        self.burn_keys(digests, no_write_protect, no_read_protect)

    # --- burning ---

    @property
    def has_pending(self) -> bool:
        return any(block.pending for block in self.state.blocks)

    def plan_text(self) -> str:
        """espforge's plan: each change not shown yet, current -> new, and what it locks."""
        unshown = [change.text() for change in self.changes if not change.shown]
        return "\n".join(["Burning eFuses:", *unshown]) if unshown else ""

    def burn_all(self) -> bool:
        """Show, check, confirm and program the plan, in espefuse's words; False when aborted.

        A plan with nothing left to burn counts as done, as in espefuse."""
        plan = self.plan_text()
        if plan:
            self.out(plan)
        self.out("\nCheck all blocks for burn...")
        self.out("idx, BLOCK_NAME,          Conclusion")
        burn.check_pending(self.state, self.out, self.force_write_always)
        if not self.has_pending:
            self.out("Nothing to burn, see messages above.")
            self.changes.clear()
            return True
        if self.show_token:
            self.out(f"\neFuse token for burning:\n{token.build_queued(self.state)}")
        self.out(". \nThis is an irreversible operation!")
        if not self._confirmed():
            self._drop_plan()
            return False
        programmer = Programmer(self.state, self.regs, self.options.crystal_mhz, self.out)
        programmer.burn(self.options.postpone)
        self.out("Reading updated eFuses...")
        self.state.reload(self.regs)
        self.changes.clear()
        return True

    def finish(self, batch: bool) -> None:
        """espefuse's ending of a burn: the command's own read-back check unless several burn
        commands were batched, then Successful."""
        checks, self.post_checks = self.post_checks, []
        if not batch:
            for check in checks:
                check()
        self.out("Successful.")

    def _confirmed(self) -> bool:
        if self.options.do_not_confirm:
            return True
        self.out("Type 'BURN' (all capitals) to continue.")
        if self.ask().strip() == "BURN":
            return True
        self.out("Aborting.")
        return False

    def _drop_plan(self) -> None:
        for block in self.state.blocks:
            block.pending = 0
        self.changes.clear()


def _sbv2_digest(pem: bytes, source: str) -> bytes:
    """The Secure Boot v2 digest of the public key in a PEM file (private or public)."""
    from espforge.secure.keys import load_public_key, v2_scheme_of
    from espforge.secure.signature_block import public_key_digest

    key = load_public_key(pem, source)
    return public_key_digest(key, v2_scheme_of(key, source))


def _ecdsa_private_bytes(pem: bytes, source: str) -> bytes:
    """The raw private scalar of a PEM ECDSA key, big-endian, zero-padded as the block wants."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from espforge.secure.keys import load_private_key

    key = load_private_key(pem, source)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise EfuseError(f"{source}: an ECDSA key purpose needs an ECDSA private key (PEM)")
    size = (key.curve.key_size + 7) // 8
    raw = key.private_numbers().private_value.to_bytes(size, "big")
    return raw.rjust(ECDSA_PADDED_BYTES.get(size, size), b"\0")
