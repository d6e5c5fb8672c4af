"""Reset sequences: the same DTR/RTS changes and waits as esptool 5.6's (esp_pylib's)."""

from __future__ import annotations

import errno

import pytest

from espforge.errors import EspforgeError
from espforge.link import reset


class LineRecorder:
    """A port that records modem-line writes and waits, as one timeline."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self._dtr = False
        self._rts = False
        self.is_open = True
        self.name = "recorder"

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, state: bool) -> None:
        self._dtr = state
        self.events.append(("dtr", state))

    @property
    def rts(self) -> bool:
        return self._rts

    @rts.setter
    def rts(self, state: bool) -> None:
        self._rts = state
        self.events.append(("rts", state))

    def setDTR(self, state: bool) -> None:  # noqa: N802 (pyserial's older spelling)
        self.dtr = state

    def setRTS(self, state: bool) -> None:  # noqa: N802
        self.rts = state


@pytest.fixture
def timeline(monkeypatch: pytest.MonkeyPatch):
    """Two recorders (ours, esptool's) whose sleeps and atomic writes land in their events."""
    esp_reset = pytest.importorskip("esp_pylib.serial_reset")
    ours, theirs = LineRecorder(), LineRecorder()
    current = {"port": ours}

    def sleep(seconds: float) -> None:
        current["port"].events.append(("wait", seconds))

    def our_both(port, dtr: bool, rts: bool) -> bool:
        port.events.append(("both", dtr, rts))
        return True

    def their_both(port, dtr: bool = False, rts: bool = False) -> None:
        port.events.append(("both", dtr, rts))

    monkeypatch.setattr(reset.time, "sleep", sleep)
    monkeypatch.setattr(esp_reset.time, "sleep", sleep)
    monkeypatch.setattr(reset, "_set_both_atomically", our_both)
    monkeypatch.setattr(esp_reset, "set_dtr_rts", their_both)

    def run(ours_call, theirs_call) -> None:
        current["port"] = ours
        ours_call(ours)
        current["port"] = theirs
        theirs_call(theirs)
        assert ours.events == theirs.events

    return esp_reset, run


@pytest.mark.parametrize("flow_control", [False, True])
@pytest.mark.parametrize("delay", [reset.DEFAULT_RESET_DELAY, reset.EXTRA_RESET_DELAY])
def test_bootloader_resets_match_esptool(timeline, delay: float, flow_control: bool) -> None:
    esp_reset, run = timeline
    run(
        lambda port: reset.classic_reset(port, delay, flow_control),
        lambda port: esp_reset.classic_bootloader_reset(port, 0.1, delay, flow_control),
    )
    run(
        lambda port: reset.tight_reset(port, delay, flow_control),
        lambda port: esp_reset.unix_tight_bootloader_reset(port, 0.1, delay, flow_control),
    )


def test_usb_jtag_serial_reset_matches_esptool(timeline) -> None:
    esp_reset, run = timeline
    run(reset.usb_jtag_serial_reset, esp_reset.usb_jtag_bootloader_reset)


@pytest.mark.parametrize("uses_usb", [False, True])
def test_hard_reset_matches_esptool(timeline, uses_usb: bool) -> None:
    esp_reset, run = timeline
    hold = 0.2 if uses_usb else 0.1
    run(
        lambda port: reset.hard_reset(port, uses_usb),
        lambda port: esp_reset.hard_reset(port, hold, 0.2 if uses_usb else 0.0),
    )


def test_custom_sequences_parse_and_run_as_esptool(timeline) -> None:
    esp_reset, run = timeline
    text = "D0|R1|W0.1|U1,0| d1 |R0|W0.05|"
    run(
        lambda port: reset.run_reset_sequence(port, reset.parse_reset_sequence(text)),
        lambda port: esp_reset.execute_custom_reset(port, text),
    )


@pytest.mark.parametrize("text", ["D2", "X1", "W", "U1", "R10", "Wfast"])
def test_bad_custom_sequences_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(EspforgeError, match=f"invalid step .* in custom reset sequence '{text}'"):
        reset.parse_reset_sequence(text)


def test_strategy_order_follows_esptool() -> None:
    names = [s.name for s in reset.bootloader_resets("default-reset", usb_jtag_serial=False)]
    assert names == [
        "unix-tight (0.05 s)",
        "unix-tight (0.55 s)",
        "classic (0.05 s)",
        "classic (0.55 s)",
    ]
    assert [s.name for s in reset.bootloader_resets("default-reset", True)] == ["usb-jtag-serial"]
    assert [s.name for s in reset.bootloader_resets("usb-reset", False)] == ["usb-jtag-serial"]
    rfc = reset.bootloader_resets("default-reset", False, reset_delay=0.2, tight_possible=False)
    assert [s.name for s in rfc] == ["classic (0.2 s)", "classic (0.2 s)"]
    custom = reset.bootloader_resets("default-reset", True, custom_sequence="D1|R0")
    assert [s.name for s in custom] == ["custom"]


def test_a_port_without_modem_lines_warns_once_and_continues(caplog) -> None:
    class NoLines:
        is_open = True
        name = "rfc2217://no-lines"

    def refuse(port) -> None:
        raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")

    strategy = reset.ResetStrategy("refusing", refuse)
    reset.perform_reset(NoLines(), strategy)
    reset.perform_reset(NoLines(), strategy)
    assert len([r for r in caplog.records if "cannot set DTR/RTS" in r.message]) == 1


def test_a_vanished_port_is_reopened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reset.time, "sleep", lambda seconds: None)
    opened: list[str] = []

    class Flaky:
        is_open = True
        name = "/dev/ttyACM0"

        def close(self) -> None:
            self.is_open = False

        def open(self) -> None:
            self.is_open = True
            opened.append("again")

    failures = [OSError(errno.EIO, "gone")]

    def run(port) -> None:
        if failures:
            raise failures.pop()

    reset.perform_reset(Flaky(), reset.ResetStrategy("flaky", run))
    assert opened == ["again"]
