"""espefuse's commands over an eFuse session: reads run at once, burns queue into one plan.

The plan is checked as a whole, shown, confirmed (typing BURN unless do_not_confirm) and only
then programmed, so a refused or aborted plan writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from espforge.efuse import burn, report, values
from espforge.efuse.coding import CODING_NONE
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
    # --force-write-always: burn over protections and non-empty coded blocks anyway
    force_write_always: bool = False
    show_sensitive_info: bool = False  # show key bytes in the plan instead of ??

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
        programmer = burn.Programmer(self.state, self.regs, self.options.crystal_mhz, self.out)
        for block in reversed(faulty):
            block.pending = block.bits
            programmer.burn_block(block, verify=False)
        self.state.reload(self.regs)
        return True

    # --- queueing burns ---

    def burn_efuses(self, pairs: list[tuple[str, str | None]]) -> None:
        names = [self.state.field(name).name for name, _ in pairs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise EfuseError(f"{', '.join(duplicates)} given more than once: name each once")
        for name, text in pairs:
            spec = self.state.field(name)
            bits = burn.parse_value(self.state, spec, text)
            self.changes.append(burn.queue_field(self.state, spec, bits))

    def protect(self, names: list[str], read: bool) -> None:
        for name in names:
            self.changes.append(burn.queue_protect(self.state, name, read))

    def burn_block_data(self, items: list[tuple[str, bytes]], offset: int = 0) -> None:
        if offset and len(items) > 1:
            raise EfuseError("--offset applies to one block only: burn the blocks one by one")
        for name, data in items:
            block = self.state.block_for_name(name)
            burn.queue_block_data(self.state, block, data, offset, self.force_write_always)
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
                raise EfuseError(f"bit {bit} is outside {block.spec.name} (0..{block.width - 1})")
            wanted |= 1 << bit
        data = wanted.to_bytes(block.width // 8, "little")
        burn.queue_block_data(self.state, block, data, 0, self.force_write_always)
        self.changes.append(burn.Change(block.spec.name, "bits", "", ", ".join(map(str, bits))))

    def burn_custom_mac(self, mac: str) -> None:
        """CUSTOM_MAC, plus (ESP32) its MAC_VERSION 1 and its CRC."""
        state = self.state
        spec = state.field("CUSTOM_MAC")
        bits = burn.parse_value(state, spec, mac)
        if self.table.custom_mac_version is not None:
            version = state.field(self.table.custom_mac_version)
            current = state.raw(version)
            if current not in (0, 1):
                raise EfuseError(f"{version.name} is {current}: a custom MAC needs it 0 or 1")
            if current == 0:
                self.changes.append(burn.queue_field(state, version, 1))
        self.changes.append(burn.queue_field(state, spec, bits, self.force_write_always))
        crc_field = self.table.mac_crc.get(spec.name)
        if crc_field is not None:
            crc = values.crc8(burn.parse_mac(mac))
            self.changes.append(burn.queue_field(state, state.field(crc_field), crc))

    def set_flash_voltage(self, voltage: str) -> None:
        """OFF, 1.8V or 3.3V through the note's three fields: force, regulator, 3.3 V tie."""
        fields = [name for name, _, _ in self.table.flash_voltage_note if name is not None]
        if len(fields) != 3:
            raise EfuseError(f"{self.table.chip} has no flash-voltage eFuses to set")
        force, regulator, tieh = fields
        wanted = {"OFF": [force], "1.8V": [force, regulator], "3.3V": [force, regulator, tieh]}
        if voltage not in wanted:
            raise EfuseError(f"'{voltage}' is not a flash voltage: use 1.8V, 3.3V or OFF")
        for name in (regulator, tieh):
            if name not in wanted[voltage] and self.state.raw(self.state.field(name)):
                raise EfuseError(f"the flash voltage cannot be {voltage}: {name} is already burned")
        self.burn_efuses([(name, "1") for name in wanted[voltage]])

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
        for block_name, data, purpose_name in self._split_keys(items):
            block = self.state.block_for_name(block_name)
            if block.spec.key_purpose is None and not self.table.key_targets:
                keys = ", ".join(b.name for b in self.table.blocks if b.key_purpose)
                raise EfuseError(f"{block.spec.name} is not a key block: use one of {keys}")
            if block.index in used:
                raise EfuseError(f"{block.spec.name} is given twice: use one key per block")
            used.append(block.index)
            self._queue_key(block.spec.name, data, purpose_name, no_write_protect, no_read_protect)

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
        for name, data in items:
            block = self.state.block_for_name(name)
            key_field = self.state.field(block.spec.name)
            reverse = name in self.table.reversed_key_names
            self._queue_key_data(key_field, data[::-1] if reverse else data)
            if reverse and not no_protect_key:
                self.changes.append(burn.queue_protect(self.state, key_field.name, read=True))
            if not no_protect_key:
                self.changes.append(burn.queue_protect(self.state, key_field.name, read=False))

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
        self._queue_key_data(key_field, data[::-1] if purpose.reverse else data)
        purpose_field = state.block_of(key_field).spec.key_purpose
        if purpose_field is not None:
            self._queue_purpose(purpose_field, purpose)
        flag = self.table.key_flags.get(purpose.name)
        if flag is not None and state.table.has_field(flag) and not state.raw(state.field(flag)):
            self.changes.append(burn.queue_field(state, state.field(flag), 1))
        if purpose.read_protect and not no_read_protect:
            self.changes.append(burn.queue_protect(state, key_field.name, read=True))
        if not no_write_protect:
            self.changes.append(burn.queue_protect(state, key_field.name, read=False))

    def _queue_key_data(self, key_field: FieldSpec, data: bytes) -> None:
        """Queue a key into an empty key field; the plan shows ?? unless asked to show it."""
        if self.state.raw(key_field):
            raise EfuseError(f"{key_field.name} already holds a key: choose an empty key block")
        if len(data) * 8 != key_field.bits:
            raise EfuseError(
                f"the key is {len(data)} bytes but {key_field.name} takes "
                f"{key_field.bits // 8}: give a key file of raw binary key data of that size"
            )
        bits = burn.bits_of_bytes(key_field, data)
        change = burn.queue_field(self.state, key_field, bits, self.force_write_always)
        shown = data.hex(" ") if self.show_sensitive_info else " ".join(["??"] * len(data))
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
                    f"{purpose_field} is write-protected: it cannot become {purpose.name}"
                )
            self.changes.append(burn.queue_field(state, spec, purpose.value))
        if state.writeable(spec.wr_dis):
            self.changes.append(burn.queue_protect(state, purpose_field, read=False))

    def burn_block_digest(self, pem: bytes, source: str, no_protect_key: bool) -> None:
        """Chips without key purposes (ESP32 v3.0+): the Secure Boot v2 digest in its block."""
        rule = self.table.digest_block
        if rule is None:
            raise EfuseError(f"{self.table.chip} takes burn-key-digest BLOCK KEYFILE KEYPURPOSE")
        if self.state.coding_scheme != CODING_NONE:
            raise EfuseError("burn-key-digest only works with the NONE coding scheme")
        revision = self.state.chip_revision()
        if revision < rule["min_revision"]:
            raise EfuseError(
                f"Secure Boot v2 needs chip revision v{rule['min_revision'] // 100}.0 or later; "
                f"this chip is v{revision // 100}.{revision % 100}"
            )
        key_field = self.state.field(rule["block"])
        digest = _sbv2_digest(pem, source)
        bits = burn.bits_of_bytes(key_field, digest)
        self.changes.append(burn.queue_field(self.state, key_field, bits, self.force_write_always))
        if not no_protect_key:
            self.changes.append(burn.queue_protect(self.state, key_field.name, read=False))

    def burn_key_digests(
        self, items: list[tuple[str, bytes, str, str]], no_write_protect: bool = False
    ) -> None:
        """Each (block, PEM key, its file name, purpose): burns the Secure Boot v2 key digest."""
        digests = [
            (block, _sbv2_digest(pem, source), purpose) for block, pem, source, purpose in items
        ]
        self.burn_keys(digests, no_write_protect, no_read_protect=True)

    # --- burning ---

    @property
    def has_pending(self) -> bool:
        return any(block.pending for block in self.state.blocks)

    def plan_text(self) -> str:
        lines = ["Burning eFuses:"]
        lines += [change.text() for change in self.changes]
        return "\n".join(lines)

    def burn_all(self) -> bool:
        """Check, show, confirm and program the plan; False when aborted or nothing to do."""
        notes = burn.check_pending(self.state, self.force_write_always)
        self.out(self.plan_text())
        self.out("\nCheck all blocks for burn...")
        for note in notes:
            self.out(note)
        if not self.has_pending:
            self.out("Nothing to burn, see messages above.")
            self.changes.clear()
            return False
        self.out("This is an irreversible operation!")
        if not self._confirmed():
            self._drop_plan()
            return False
        programmer = burn.Programmer(self.state, self.regs, self.options.crystal_mhz, self.out)
        programmer.burn(self.options.postpone)
        self.out("Reading updated eFuses...")
        self.state.reload(self.regs)
        self.changes.clear()
        self.out("Successful.")
        return True

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
