"""Errors that every layer raises and the CLI turns into one line and a non-zero exit."""


class EspforgeError(Exception):
    """A problem the user can act on; its message is one line saying what and what to do."""


class ImageError(EspforgeError):
    """A firmware image, ELF file or flash layout is malformed or does not fit its target."""
