"""The progress lifecycle: tasks as context managers on a device's bus, the events they publish,
and the terminal's bars drawn from them, on their own and under real operations on the virtual
chip."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from rich.console import Console

from espforge.cli.progress import ProgressBars
from espforge.errors import EspforgeError
from espforge.flash import (
    DeviceIdentity,
    EventKind,
    Operation,
    ProgressBus,
    ProgressEvent,
    open_device,
    read_flash,
    write_flash,
)
from espforge.image.flash_input import FlashInput
from espforge.protocol.connect import ConnectOptions

STARTED, PROGRESS, FINISHED = EventKind.STARTED, EventKind.PROGRESS, EventKind.FINISHED
FAILED, SKIPPED = EventKind.FAILED, EventKind.SKIPPED


def recorded(bus: ProgressBus) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    bus.subscribe(events.append)
    return events


def bars_on(bus: ProgressBus) -> ProgressBars:
    bars = ProgressBars(Console(file=io.StringIO(), force_terminal=True))
    bus.subscribe(bars)
    return bars


# ------------------------------------------------------------------ the lifecycle


def test_a_task_starts_reports_and_finishes_under_one_id():
    bus = ProgressBus("/dev/ttyUSB0")
    events = recorded(bus)
    with bus.task(Operation.READ, 100, "Reading from 0x00000000") as task:
        task.advance(60, "Reading from 0x0000003c")
        task.update(100, "Reading from 0x00000064")
    assert [(e.kind, e.done, e.description) for e in events] == [
        (STARTED, 0, "Reading from 0x00000000"),
        (PROGRESS, 60, "Reading from 0x0000003c"),
        (PROGRESS, 100, "Reading from 0x00000064"),
        (FINISHED, 100, "Reading from 0x00000064"),
    ]
    assert {e.task_id for e in events} == {task.id}
    assert all(e.operation is Operation.READ and e.total == 100 for e in events)


def test_an_exception_inside_a_task_publishes_failed_and_carries_on():
    bus = ProgressBus()
    events = recorded(bus)
    with (
        pytest.raises(EspforgeError, match="the link went away"),
        bus.task(Operation.WRITE, 10, "Writing at 0x00001000") as task,
    ):
        task.advance(4, "Writing at 0x00001004")
        raise EspforgeError("the link went away")
    assert [(e.kind, e.done) for e in events] == [(STARTED, 0), (PROGRESS, 4), (FAILED, 4)]
    assert events[-1].reason == "the link went away"


def test_a_skipped_task_ends_there():
    bus = ProgressBus()
    events = recorded(bus)
    with bus.task(Operation.VERIFY, 10, "Verifying") as task:
        task.skip("the ROM cannot compute an MD5")
    assert [e.kind for e in events] == [STARTED, SKIPPED]
    assert events[-1].reason == "the ROM cannot compute an MD5"
    with pytest.raises(RuntimeError, match="ended"):
        task.advance(1, "Verifying")


def test_every_task_has_an_id_of_its_own():
    first, second = ProgressBus("a"), ProgressBus("b")
    ids = {bus.task(Operation.WRITE, 1).id for bus in (first, second, first)}
    assert len(ids) == 3


def test_events_name_the_port_and_once_known_the_chip():
    bus = ProgressBus("/dev/ttyUSB0")
    events = recorded(bus)
    with bus.task(Operation.ERASE, 1):
        bus.identify("ESP32-C3")
    assert [e.device for e in events] == [
        DeviceIdentity("/dev/ttyUSB0"),
        DeviceIdentity("/dev/ttyUSB0", "ESP32-C3"),
    ]


def test_operations_are_named_as_before_and_say_how_they_are_drawn():
    assert [str(operation) for operation in Operation] == [
        "write",
        "read",
        "verify",
        "erase",
        "dump-mem",
        "load-ram",
    ]
    assert Operation("dump-mem") is Operation.DUMP_MEM
    assert {op for op in Operation if not op.drawn} == {Operation.VERIFY, Operation.ERASE}
    assert {op for op in Operation if not op.counts_bytes} == {Operation.LOAD_RAM}


# ------------------------------------------------------------------ the bars


@pytest.mark.parametrize("operation", list(Operation))
def test_the_bars_draw_what_the_operation_says(operation: Operation):
    bus = ProgressBus()
    bars = bars_on(bus)
    with bus.task(operation, 8, "Working") as task:
        task.advance(2, "Working on")
        shown = bars.progress.tasks
        assert len(shown) == operation.drawn
        if operation.drawn:
            assert shown[0].completed == 2 and shown[0].description == "Working on"
            assert shown[0].fields["in_bytes"] == operation.counts_bytes
    assert bars.progress.tasks == []


def test_a_bar_goes_when_its_task_is_skipped():
    bus = ProgressBus()
    bars = bars_on(bus)
    with bus.task(Operation.READ, 8, "Reading") as task:
        assert len(bars.progress.tasks) == 1
        task.skip("nothing to read")
        assert bars.progress.tasks == []


def test_a_bar_goes_when_its_task_fails():
    bus = ProgressBus()
    bars = bars_on(bus)
    with pytest.raises(KeyError), bus.task(Operation.LOAD_RAM, 3, "Loading"):
        assert len(bars.progress.tasks) == 1
        raise KeyError("lost")
    assert bars.progress.tasks == []


# ------------------------------------------------------------------ real operations


@pytest.fixture
def quick_timeouts(monkeypatch, tmp_path: Path) -> None:
    config = tmp_path / "esptool.cfg"
    config.write_text("[espforge]\ntimeout = 0.3\n")
    monkeypatch.setenv("ESPFORGE_CFGFILE", str(config))


def test_a_write_on_the_virtual_chip_names_its_board(tmp_path: Path):
    url = f"virtual://esp32c3?flash={tmp_path / 'flash.bin'}"
    with open_device(ConnectOptions(url, "esp32c3", before="no-reset"), after=None) as device:
        events = recorded(device.progress)
        device.attach_flash()
        write_flash(device, [FlashInput(0x1000, random.Random(1).randbytes(0x2000))])
    assert {event.device for event in events} == {DeviceIdentity(url, "ESP32-C3")}
    writes = [event for event in events if event.operation is Operation.WRITE]
    assert [writes[0].kind, writes[-1].kind] == [STARTED, FINISHED]


def test_a_read_that_fails_publishes_failed_and_its_bar_goes(tmp_path: Path, quick_timeouts):
    url = f"virtual://esp32c3?flash={tmp_path / 'flash.bin'}&faults=disconnect_after=1000"
    with open_device(ConnectOptions(url, "esp32c3", before="no-reset"), after=None) as device:
        events = recorded(device.progress)
        bars = bars_on(device.progress)
        device.attach_flash()
        chip = device.loader.port.chip
        chip.options.faults.disconnect_after = len(chip.command_log) + 3
        with pytest.raises(EspforgeError):
            read_flash(device, 0, 0x1000)
    reads = [event for event in events if event.operation is Operation.READ]
    assert [reads[0].kind, reads[-1].kind] == [STARTED, FAILED]
    assert reads[-1].reason and reads[-1].done < 0x1000
    assert bars.progress.tasks == []


def test_a_retried_transfer_is_a_new_task(tmp_path: Path, quick_timeouts):
    url = f"virtual://esp32c3?flash={tmp_path / 'flash.bin'}&faults=reset_after=1000"
    data = random.Random(2).randbytes(0x6000)
    with open_device(ConnectOptions(url, "esp32c3", before="no-reset"), after=None) as device:
        events = recorded(device.progress)
        device.attach_flash()
        chip = device.loader.port.chip
        chip.options.faults.reset_after = len(chip.command_log) + 8  # in the data blocks
        write_flash(device, [FlashInput(0, data)])
    writes = [event for event in events if event.operation is Operation.WRITE]
    ends = [(event.kind, event.task_id) for event in writes if event.kind.ends_task]
    assert [kind for kind, _ in ends] == [FAILED, FINISHED]
    assert ends[0][1] != ends[1][1]
    assert (tmp_path / "flash.bin").read_bytes()[: len(data)] == data
