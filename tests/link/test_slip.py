"""SLIP framing: round trips, split reads, noise between frames, bad escapes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from espforge.link.slip import SlipDecoder, slip_encode, slip_unescape


def test_encoding_escapes_both_special_bytes() -> None:
    assert slip_encode(b"\x01\xc0\x02\xdb\x03") == b"\xc0\x01\xdb\xdc\x02\xdb\xdd\x03\xc0"


def test_noise_between_frames_is_kept_aside() -> None:
    decoder = SlipDecoder()
    stream = b"ets Jun  8 2016\r\n" + slip_encode(b"abc") + b"rst:0x1\r\n" + slip_encode(b"de")
    assert decoder.feed(stream) == [b"abc", b"de"]
    assert decoder.take_noise() == b"ets Jun  8 2016\r\nrst:0x1\r\n"
    assert decoder.take_noise() == b""


def test_frame_with_undefined_escape_is_dropped_and_counted() -> None:
    decoder = SlipDecoder()
    assert decoder.feed(b"\xc0ab\xdb\x01c\xc0" + slip_encode(b"ok")) == [b"ok"]
    assert decoder.bad_frames == 1
    assert slip_unescape(b"ab\xdb") is None


def test_back_to_back_ends_do_not_make_empty_frames() -> None:
    decoder = SlipDecoder()
    assert decoder.feed(b"\xc0\xc0\xc0xy\xc0\xc0") == [b"xy"]


payloads = st.lists(st.binary(min_size=1, max_size=300), max_size=8)


@given(payloads, st.binary(max_size=40), st.integers(min_value=1, max_value=64))
def test_frames_survive_any_split_of_the_stream(
    frames: list[bytes], noise: bytes, piece: int
) -> None:
    noise = noise.replace(b"\xc0", b"")
    stream = noise + b"".join(slip_encode(frame) + noise for frame in frames)
    decoder = SlipDecoder()
    received: list[bytes] = []
    for start in range(0, len(stream), piece):
        received += decoder.feed(stream[start : start + piece])
    assert received == frames
    assert decoder.take_noise() == noise * (len(frames) + 1)


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(stream: bytes) -> None:
    decoder = SlipDecoder()
    for frame in decoder.feed(stream):
        assert slip_unescape(slip_encode(frame)[1:-1]) == frame
