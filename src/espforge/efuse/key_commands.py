"""eFuse session commands that burn keys: burn-key (with purposes, 512-bit keys split over two
blocks, ECDSA keys from PEM) and burn-key-digest (Secure Boot v2 digests)."""

from __future__ import annotations

from espforge.efuse import burn, values
from espforge.efuse.burn_queue import BurnQueue
from espforge.efuse.burn_values import bits_of_bytes
from espforge.efuse.coding import CODING_NONE
from espforge.efuse.table import EfuseError, FieldSpec, KeyPurpose

KEY_BYTES = 32
SPLIT_HALVES = ("ECDSA_KEY_P384_H", "ECDSA_KEY_P384_L")  # raw halves: no PEM to read
ECDSA_PADDED_BYTES = {24: 32, 48: 64}  # P-192 and P-384 keys are zero-padded in front


class KeyCommands(BurnQueue):
    """The key commands of `EfuseSession`; each queues into the session's plan."""

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


def _sbv2_digest(pem: bytes, source: str) -> bytes:
    """The Secure Boot v2 digest of the public key in a PEM file (private or public)."""
    # Loaded here: only key burns need cryptography, and eFuse reads should start fast.
    from espforge.secure.keys import load_public_key, v2_scheme_of
    from espforge.secure.signature_block import public_key_digest

    key = load_public_key(pem, source)
    return public_key_digest(key, v2_scheme_of(key, source))


def _ecdsa_private_bytes(pem: bytes, source: str) -> bytes:
    """The raw private scalar of a PEM ECDSA key, big-endian, zero-padded as the block wants."""
    # Loaded here: only key burns need cryptography, and eFuse reads should start fast.
    from cryptography.hazmat.primitives.asymmetric import ec

    from espforge.secure.keys import load_private_key

    key = load_private_key(pem, source)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise EfuseError(f"{source}: an ECDSA key purpose needs an ECDSA private key (PEM)")
    size = (key.curve.key_size + 7) // 8
    raw = key.private_numbers().private_value.to_bytes(size, "big")
    return raw.rjust(ECDSA_PADDED_BYTES.get(size, size), b"\0")
