"""Errors that every layer raises and the CLI turns into one line and a non-zero exit."""


class EspforgeError(Exception):
    """A problem the user can act on; its message is one line saying what and what to do."""


class ImageError(EspforgeError):
    """A firmware image, ELF file or flash layout is malformed or does not fit its target."""


class PortError(EspforgeError):
    """A serial port cannot be opened or found, or failed in use; `reason` says which."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason  # "missing", "busy", "permission", "none-found", "lost" or "other"


class ConnectError(EspforgeError):
    """The chip did not answer the bootloader's sync, or is not the chip asked for."""

    def __init__(self, message: str, chip_output: bytes = b"") -> None:
        super().__init__(message)
        self.chip_output = chip_output  # what the chip printed while we tried, for diagnostics


class WrongChipError(ConnectError):
    """The chip that answered is not the one `--chip` named."""


class ProtocolError(EspforgeError):
    """The link misbehaved: no reply in time, or replies that make no sense."""


class CommandFailed(EspforgeError):
    """The bootloader answered a command with a failure status."""

    def __init__(self, message: str, opcode: int, status: int, code: int) -> None:
        super().__init__(message)
        self.opcode = opcode
        self.status = status
        self.code = code


class UnsupportedCommandError(CommandFailed):
    """The bootloader does not know the command (or refuses it in Secure Download Mode)."""


class SecureDownloadModeError(EspforgeError):
    """The operation is not available while the chip is in Secure Download Mode."""


class NotSupportedError(EspforgeError):
    """The chip's ROM bootloader cannot do this (the flasher stub could)."""
