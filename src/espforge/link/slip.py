"""SLIP framing as the ROM bootloader uses it: 0xC0 ends frames, 0xDB escapes.

Frames can arrive split across reads and surrounded by bytes that are not frames (boot messages,
line noise). The decoder keeps those bytes aside so that connection diagnostics can show what the
chip printed.
"""

from __future__ import annotations

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD

_END = bytes([END])
_ESC = bytes([ESC])
_ESCAPED_END = bytes([ESC, ESC_END])
_ESCAPED_ESC = bytes([ESC, ESC_ESC])


def slip_encode(payload: bytes) -> bytes:
    """One frame: the payload with its special bytes escaped, between two END bytes."""
    body = payload.replace(_ESC, _ESCAPED_ESC).replace(_END, _ESCAPED_END)
    return _END + body + _END


def slip_unescape(body: bytes) -> bytes | None:
    """The payload of a frame body, or None when it holds an escape the protocol does not define."""
    if ESC not in body:
        return body
    parts = body.split(_ESC)
    out = bytearray(parts[0])
    for part in parts[1:]:
        if not part:
            return None
        code = part[0]
        if code == ESC_END:
            out.append(END)
        elif code == ESC_ESC:
            out.append(ESC)
        else:
            return None
        out += part[1:]
    return bytes(out)


class SlipDecoder:
    """Turns a byte stream into frames, keeping what lies between frames as `noise`."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._in_frame = False
        self.noise = bytearray()  # bytes outside any frame, for diagnostics
        self.bad_frames = 0  # frames dropped for an undefined escape

    def feed(self, data: bytes) -> list[bytes]:
        """Every complete frame in `data` plus what earlier calls left pending."""
        frames: list[bytes] = []
        position = 0
        while position < len(data):
            boundary = data.find(_END, position)
            chunk = data[position:] if boundary < 0 else data[position:boundary]
            if self._in_frame:
                self._pending += chunk
            else:
                self.noise += chunk
            if boundary < 0:
                break
            if self._in_frame and self._pending:
                self._finish_frame(frames)
            else:
                # An END outside a frame, or two ENDs in a row: a frame starts here.
                self._in_frame = True
            position = boundary + 1
        return frames

    def _finish_frame(self, frames: list[bytes]) -> None:
        payload = slip_unescape(bytes(self._pending))
        self._pending.clear()
        self._in_frame = False
        if payload is None:
            self.bad_frames += 1
        else:
            frames.append(payload)

    def take_noise(self) -> bytes:
        """The bytes seen outside frames since the last call."""
        noise = bytes(self.noise)
        self.noise.clear()
        return noise
