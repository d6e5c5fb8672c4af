"""Commands and their responses over a frame link: matching, skipping, retrying, resyncing.

A ROM bootloader answers every command with one response carrying the same opcode, but a link
also delivers things that are not the answer being waited for: the extra replies to a SYNC,
boot messages, frames mangled by noise, late replies to commands given up on. Those are
skipped. When a reply does not come at all, the channel resynchronises (a SYNC whose answer
proves everything older has been received) before sending the command again, so a late reply
can never be taken for the answer to a later command.
"""

from __future__ import annotations

import time

from espforge.config import Settings
from espforge.errors import CommandFailed, ProtocolError, UnsupportedCommandError
from espforge.link.reader import FrameLink, Trace
from espforge.protocol.commands import (
    SYNC_PAYLOAD,
    Opcode,
    Response,
    decode_response,
    describe_error,
    encode_command,
)
from espforge.protocol.diagnose import reset_note

ROM_INVALID_COMMAND = 0x05  # the ROM's error code for a malformed or unknown command
SYNC_REPLIES = 8  # a ROM answers one SYNC with eight identical responses
REJECTION_DRAIN = 0.2  # seconds to collect the repeated replies to an unknown command
MAX_SKIPPED_FRAMES = 100  # more unrelated frames than this while waiting means a broken link


class ResponseTimeout(ProtocolError):
    """No response to a command arrived in time."""


def opcode_name(opcode: int) -> str:
    try:
        return f"{Opcode(opcode).name} (0x{opcode:02X})"
    except ValueError:
        return f"command 0x{opcode:02X}"


class CommandChannel:
    """Requests and their checked responses over a `FrameLink`, with esptool's timeouts."""

    def __init__(self, link: FrameLink, settings: Settings, trace: Trace | None = None) -> None:
        self.link = link
        self.settings = settings
        self.trace = trace

    # ---------------------------------------------------------------- basic exchange

    def send(self, opcode: int, data: bytes = b"", checksum: int = 0) -> None:
        if self.trace:
            self.trace(f"--- {opcode_name(opcode)}: {len(data)} data bytes, checksum {checksum:#x}")
        self.link.write_frame(encode_command(opcode, data, checksum))

    def await_response(
        self, opcode: int, timeout: float, detect_rejection: bool = True
    ) -> Response:
        """The next response to `opcode`. Frames that are not responses, and responses to other
        commands (stale ones), are skipped; a ROM's "invalid command" reply carrying another
        opcode means it rejected this command."""
        deadline = time.monotonic() + min(timeout, self.settings.max_timeout)
        for _ in range(MAX_SKIPPED_FRAMES):
            frame = self.link.read_frame(max(0.0, deadline - time.monotonic()))
            if frame is None:
                raise ResponseTimeout(
                    f"no reply to {opcode_name(opcode)} within {timeout:g} s: the chip stopped "
                    "answering (check the cable and power; did it reset?)"
                )
            response = decode_response(frame)
            if response is None:
                continue  # line noise inside frame markers, or an echo of our own request
            if response.opcode == opcode:
                return response
            if detect_rejection and _is_rejection(response):
                self._drain_rejections()
                raise UnsupportedCommandError(
                    f"the bootloader rejected {opcode_name(opcode)} as an unknown command",
                    opcode,
                    response.data[0],
                    response.data[1],
                )
        raise ProtocolError(
            f"waiting for the reply to {opcode_name(opcode)}, received {MAX_SKIPPED_FRAMES} "
            "unrelated frames: the link is too noisy (try a lower --baud or another cable)"
        )

    def _drain_rejections(self) -> None:
        # Some ROMs repeat their rejection several times; none of those repeats may be
        # mistaken for the answer to the next command.
        time.sleep(REJECTION_DRAIN)
        self.link.discard_input()

    def check(self, response: Response, what: str, reply_length: int = 0) -> tuple[int, bytes]:
        """(value, the first `reply_length` data bytes) of a successful response; raises on a
        failure status. Only the first two status bytes count (later ROMs send two more)."""
        data = response.data
        if len(data) >= reply_length + 2:
            failed, code = data[reply_length], data[reply_length + 1]
        elif len(data) >= 2 and data[0] != 0:
            failed, code = data[0], data[1]  # a failure sends the status without the data
        else:
            raise ProtocolError(
                f"failed to {what}: the reply holds {len(data)} bytes, expected "
                f"{reply_length} and a status"
            )
        if failed:
            error_type = UnsupportedCommandError if code == ROM_INVALID_COMMAND else CommandFailed
            raise error_type(
                f"failed to {what}: {describe_error(failed, code)}", response.opcode, failed, code
            )
        return response.value, data[:reply_length]

    # ------------------------------------------------------------------- requests

    def request(
        self,
        opcode: int,
        data: bytes = b"",
        what: str = "",
        checksum: int = 0,
        timeout: float | None = None,
        reply_length: int = 0,
        attempts: int = 1,
        retry_failures: bool = False,
    ) -> tuple[int, bytes]:
        """Send a command and return (value, reply data) of its successful response.

        With `attempts` > 1 the command is sent again when its reply is lost (after a
        resynchronisation that also catches a merely late reply) and, with `retry_failures`,
        when the chip reports a failure (a block damaged on the way).
        """
        what = what or f"run {opcode_name(opcode)}"
        mark = self.link.output_total
        try:
            for attempts_left in range(attempts - 1, -1, -1):
                response = self._exchange(opcode, data, checksum, timeout, last=not attempts_left)
                if response is None:
                    continue
                try:
                    return self.check(response, what, reply_length)
                except CommandFailed:
                    if not (retry_failures and attempts_left):
                        raise
                    if self.trace:
                        self.trace(f"failed to {what}; {attempts_left} attempt(s) left")
        except (CommandFailed, ProtocolError) as error:
            note = reset_note(self.link.output_since(mark))
            if note:
                error.args = (f"{error}{note}",)
            raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def request_response(
        self, opcode: int, data: bytes = b"", timeout: float | None = None, attempts: int = 1
    ) -> Response:
        """The response to a command, unchecked (for replies whose length varies); a lost
        reply is handled as in `request`."""
        for attempts_left in range(attempts - 1, -1, -1):
            response = self._exchange(opcode, data, 0, timeout, last=not attempts_left)
            if response is not None:
                return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _exchange(
        self, opcode: int, data: bytes, checksum: int, timeout: float | None, last: bool
    ) -> Response | None:
        """Send once and await the reply; None when it was lost and another try may follow."""
        self.send(opcode, data, checksum)
        timeout = self.settings.timeout if timeout is None else timeout
        try:
            return self.await_response(opcode, timeout)
        except ResponseTimeout:
            if last:
                raise
            return self.resynchronise(opcode)

    def resynchronise(self, opcode: int) -> Response | None:
        """Bring the link back in step after a lost reply: send a SYNC and read up to its
        answer, which the chip can only send after everything it owed before. Returns the
        reply to `opcode` if it turned up late on the way, else None."""
        if self.trace:
            self.trace(f"reply to {opcode_name(opcode)} lost: resynchronising")
        self.send(Opcode.SYNC, SYNC_PAYLOAD)
        late: Response | None = None
        deadline = time.monotonic() + self.settings.timeout
        while True:
            frame = self.link.read_frame(max(0.0, deadline - time.monotonic()))
            if frame is None:
                raise ResponseTimeout(
                    f"no reply to {opcode_name(opcode)} nor to a SYNC sent after it: the chip "
                    "stopped answering (check the cable and power; did it reset?)"
                )
            response = decode_response(frame)
            if response is None:
                continue
            if response.opcode == opcode:
                late = response
            elif response.opcode == Opcode.SYNC:
                break
        self.link.read_for(self.settings.sync_timeout)  # the SYNC's remaining replies
        return late

    # ----------------------------------------------------------------------- sync

    def sync(self) -> bool:
        """One SYNC exchange, as esptool does it: the first reply within the sync timeout,
        then the chip's further replies. True when every reply's value was 0, which a flasher
        stub sends (a ROM sends non-zero)."""
        self.send(Opcode.SYNC, SYNC_PAYLOAD)
        timeout = self.settings.sync_timeout
        values = [self.await_response(Opcode.SYNC, timeout, detect_rejection=False).value]
        for _ in range(SYNC_REPLIES - 1):
            try:
                values.append(
                    self.await_response(Opcode.SYNC, timeout, detect_rejection=False).value
                )
            except ResponseTimeout:
                break  # fewer replies than a ROM sends: nothing is lost by not waiting longer
        return all(value == 0 for value in values)


def _is_rejection(response: Response) -> bool:
    data = response.data
    return len(data) >= 2 and data[0] != 0 and data[1] == ROM_INVALID_COMMAND
