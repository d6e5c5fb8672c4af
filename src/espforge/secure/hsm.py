"""Signing with a key that never leaves a Hardware Security Module, over PKCS#11.

The configuration file is espsecure's: an INI section [hsm_config] with pkcs11_lib (the
token's PKCS#11 library), slot, label (the private key), optionally label_pubkey (the public
key, else label) and credentials (the user PIN; asked for when absent). python-pkcs11 is
imported only here, when an HSM is used.
"""

from __future__ import annotations

import configparser
import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from espforge.secure.errors import SecureError
from espforge.secure.keys import PublicKey, SigningScheme

SECTION = "hsm_config"
_REQUIRED = ("pkcs11_lib", "slot", "label")
_CURVES = (ec.SECP192R1(), ec.SECP256R1(), ec.SECP384R1())


@dataclass(frozen=True)
class HsmConfig:
    library: str
    slot: int
    label: str
    public_label: str
    pin: str = field(repr=False)

    @property
    def description(self) -> str:
        return f"HSM key '{self.label}' (slot {self.slot})"


def read_hsm_config(
    text: str, source: str, ask_pin: Callable[[str], str] = getpass.getpass
) -> HsmConfig:
    """The settings in an espsecure HSM config file's text; asks for the PIN if it is absent."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text, source=source)
    except configparser.Error as error:
        first_line = str(error).splitlines()[0]
        raise SecureError(f"{source}: not an HSM config file ({first_line})") from None
    if not parser.has_section(SECTION):
        raise SecureError(f"{source}: no [{SECTION}] section; see espsecure's HSM config format")
    settings = parser[SECTION]
    missing = [name for name in _REQUIRED if not settings.get(name)]
    if missing:
        raise SecureError(f"{source}: [{SECTION}] lacks {', '.join(missing)}")
    try:
        slot = int(settings["slot"], 0)
    except ValueError:
        raise SecureError(f"{source}: slot '{settings['slot']}' is not a number") from None
    pin = settings.get("credentials")
    if pin is None:
        pin = ask_pin("Please enter the PIN of your HSM: ")
    return HsmConfig(
        library=settings["pkcs11_lib"],
        slot=slot,
        label=settings["label"],
        public_label=settings.get("label_pubkey", settings["label"]),
        pin=pin,
    )


class HsmSigner:
    """The private key labelled `config.label` in an open PKCS#11 session."""

    def __init__(self, session: Any, config: HsmConfig, known_public_key: PublicKey | None) -> None:
        self._session = session
        self._config = config
        self._known_public_key = known_public_key
        self.source = config.description

    def public_key(self) -> PublicKey:
        """The key pair's public half: as given, else read from the token."""
        if self._known_public_key is not None:
            return self._known_public_key
        pkcs11 = _pkcs11()
        with _reported(f"cannot read the public key '{self._config.public_label}'"):
            key = self._session.get_key(
                object_class=pkcs11.ObjectClass.PUBLIC_KEY, label=self._config.public_label
            )
            if key.key_type == pkcs11.KeyType.RSA:
                return rsa.RSAPublicNumbers(
                    _integer(key[pkcs11.Attribute.PUBLIC_EXPONENT]),
                    _integer(key[pkcs11.Attribute.MODULUS]),
                ).public_key()
            if key.key_type == pkcs11.KeyType.EC:
                curve = _curve_of(key)
                point = _point(key[pkcs11.Attribute.EC_POINT], curve)
                return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        raise SecureError(f"{self.source}: the public key is neither RSA nor ECDSA")

    def sign_digest(self, digest: bytes, scheme: SigningScheme) -> bytes:
        pkcs11 = _pkcs11()
        with _reported("cannot sign"):
            key = self._session.get_key(
                object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=self._config.label
            )
            if scheme.is_rsa:
                return key.sign(
                    digest,
                    mechanism=pkcs11.Mechanism.RSA_PKCS_PSS,
                    mechanism_param=(pkcs11.Mechanism.SHA256, pkcs11.MGF.SHA256, 32),
                )
            raw = key.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)
        half = len(raw) // 2
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )


@contextmanager
def open_hsm(config: HsmConfig, public_key: PublicKey | None = None) -> Iterator[HsmSigner]:
    """A logged-in session on the configured slot, closed afterwards.

    `public_key` serves tokens that cannot export the key pair's public half.
    """
    pkcs11 = _pkcs11()
    if not os.path.isfile(config.library):
        raise SecureError(f"{config.library}: no such PKCS#11 library (pkcs11_lib in the config)")
    with _reported("cannot open a session"):
        library = pkcs11.lib(config.library)
        slots = library.get_slots(token_present=True)
        slot = next((slot for slot in slots if slot.slot_id == config.slot), None)
        if slot is None:
            present = ", ".join(str(slot.slot_id) for slot in slots) or "none"
            raise SecureError(
                f"HSM: no token in slot {config.slot} (slots with a token: {present}); "
                "fix slot in the config"
            )
        session = slot.get_token().open(rw=True, user_pin=config.pin)
    try:
        yield HsmSigner(session, config, public_key)
    finally:
        session.close()


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise SecureError(
            "--hsm needs the python-pkcs11 package: pip install python-pkcs11"
        ) from None
    return pkcs11


_EXPLANATIONS = {
    "PinIncorrect": "the PIN is wrong (credentials in the config)",
    "PinLocked": "the PIN is locked",
    "NoSuchKey": "no such key label on the token (label / label_pubkey in the config)",
    "MultipleObjectsReturned": "several keys carry that label; give each key its own label",
    "MechanismInvalid": "the HSM does not offer the signing mechanism this key needs",
    "FunctionFailed": "check the HSM's configuration, privileges and environment",
    "TokenNotPresent": "the token was removed",
    "DeviceRemoved": "the token was removed",
}


@contextmanager
def _reported(action: str) -> Iterator[None]:
    """Turn a PKCS#11 failure into one line saying what failed and why."""
    pkcs11 = _pkcs11()
    try:
        yield
    except pkcs11.PKCS11Error as error:
        name = type(error).__name__
        why = _EXPLANATIONS.get(name, name)
        raise SecureError(f"HSM: {action}: {why}") from None


def _integer(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _curve_of(key: Any) -> ec.EllipticCurve:
    from pkcs11.util.ec import encode_named_curve_parameters

    parameters = key[_pkcs11().Attribute.EC_PARAMS]
    for curve in _CURVES:
        if parameters == encode_named_curve_parameters(curve.name):
            return curve
    raise SecureError("HSM: the ECDSA key is not on P-192, P-256 or P-384")


def _point(ec_point: bytes, curve: ec.EllipticCurve) -> bytes:
    """The uncompressed point in CKA_EC_POINT, which most tokens wrap in a DER OCTET STRING."""
    point_size = 1 + 2 * ((curve.key_size + 7) // 8)
    if len(ec_point) == point_size:  # a token that gives the bare point
        return ec_point
    length_byte = ec_point[1] if len(ec_point) > 1 else 0
    header = 2 if length_byte < 0x80 else 2 + (length_byte & 0x7F)
    return ec_point[header:]
