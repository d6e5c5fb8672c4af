"""The error the signing and encryption tools raise for bad keys, images and options."""

from espforge.errors import EspforgeError


class SecureError(EspforgeError):
    """A key, signature, image or option that the secure tools cannot use; one line."""
