"""espforge's flasher-stub client against the virtual chip, uploading esptool's own stub JSON
files (from the installed esptool package, test-only: espforge ships no stub binaries)."""

from __future__ import annotations

import base64
import contextlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import espforge_in_process as espforge
from conftest import esptool_stub_dir
from espforge.chips import get_chip
from espforge.errors import PortError
from espforge.flash import WriteOptions, check_inputs, execute_plan, open_device, plan_write
from espforge.image.flash_input import FlashInput
from espforge.protocol.connect import ConnectOptions
from espforge.protocol.dialect import STUB_DIALECT
from espforge.protocol.stub_image import StubError, StubSource, parse_stub, stub_file_names
from espforge.virtual.chip import BootState
from espforge.virtual.config import chip_from_options
from espforge.virtual.transports import TcpServer

esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")
STUB_DIR = esptool_stub_dir()


def stub_file(chip: str) -> Path:
    path = STUB_DIR / f"{chip}.json"
    if not path.is_file():
        pytest.skip(f"esptool has no stub file {path}")
    return path


def logged_ops(log_file: Path) -> list[str]:
    return [json.loads(line)["op"] for line in log_file.read_text().splitlines()]


# ------------------------------------------------------------------ stub files


def test_esptool_stub_files_parse_into_their_segments() -> None:
    path = stub_file("esp32c3")
    document = json.loads(path.read_text())
    image = parse_stub(path.read_bytes(), str(path))
    assert image.entry == document["entry"]
    assert image.segments == [
        (document["text_start"], base64.b64decode(document["text"])),
        (document["data_start"], base64.b64decode(document["data"])),
    ]
    assert image.bss_start == document["bss_start"]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (b"\xff\xfe", "not a stub JSON file"),
        (b"[1, 2]", "expected an object"),
        (b'{"entry": 4}', "no 'text' field"),
        (b'{"entry": -1, "text": "", "text_start": 0}', "'entry' must be a 32-bit address"),
        (b'{"entry": 0, "text": "!!", "text_start": 0}', "'text' is not base64"),
    ],
)
def test_broken_stub_files_are_refused_in_one_line(text: bytes, complaint: str) -> None:
    with pytest.raises(StubError, match=complaint) as caught:
        parse_stub(text, "stub.json")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("stub.json: ")


@given(st.binary(max_size=200))
def test_any_bytes_give_a_stub_or_a_stub_error(raw: bytes) -> None:
    with contextlib.suppress(StubError):
        parse_stub(raw, "fuzz.json")


def test_a_revision_specific_stub_comes_first() -> None:
    assert stub_file_names(get_chip("esp32p4"), 1) == ["esp32p4-rev1.json", "esp32p4.json"]
    assert stub_file_names(get_chip("esp8266"), None) == ["esp8266.json"]


def test_stub_info_shows_the_segments() -> None:
    path = stub_file("esp32")
    output = espforge("stub", "info", str(path))
    assert f"Stub file: {path}" in output
    assert "Entry point: 0x" in output and "text: 0x" in output and "data: 0x" in output


# ------------------------------------------------------------------ on the virtual chip


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "payload.bin"
    path.write_bytes(random.Random(7).randbytes(50000) + bytes(60000) + b"end")
    return path


@pytest.mark.parametrize("chip", ["esp32", "esp32c3", "esp32s3"])
def test_write_read_verify_erase_through_the_stub(chip: str, tmp_path: Path, payload) -> None:
    flash_file, log_file = tmp_path / "flash.bin", tmp_path / "log.jsonl"
    port = f"virtual://{chip}?flash={flash_file}&log={log_file}"
    common = ["--port", port, "--before", "no-reset", "--stub-file", str(stub_file(chip))]
    output = espforge(*common, "--baud", "921600", "write-flash", "0x10000", str(payload))
    assert "Stub flasher running." in output and "Hash of data verified." in output
    assert "Changed." in output
    espforge(*common, "write-flash", "-u", "0x40000", str(payload))
    read_back = tmp_path / "read.bin"
    espforge(*common, "read-flash", "0x40000", str(payload.stat().st_size), str(read_back))
    assert read_back.read_bytes() == payload.read_bytes()
    output = espforge(*common, "verify-flash", "0x10000", str(payload))
    assert "Verification successful (digest matched)." in output
    espforge(*common, "erase-region", "0x40000", "0x1000")
    flash = flash_file.read_bytes()
    assert flash[0x10000 : 0x10000 + payload.stat().st_size] == payload.read_bytes()
    assert flash[0x40000:0x41000] == b"\xff" * 0x1000
    assert flash[0x41000:0x42000] == payload.read_bytes()[0x1000:0x2000]
    espforge(*common, "erase-flash")
    assert set(flash_file.read_bytes()) == {0xFF}
    ops = logged_ops(log_file)
    for op in ("MEM_END", "READ_FLASH", "ERASE_REGION", "ERASE_FLASH", "FLASH_DEFL_END"):
        assert op in ops
    assert "READ_FLASH_SLOW" not in ops
    # The stub's 16 KB blocks: the 110 KB payload uncompressed takes 7 of them.
    assert ops.count("FLASH_DATA") == 7


def test_the_stub_directory_comes_from_the_environment(tmp_path: Path, payload) -> None:
    flash_file = tmp_path / "flash.bin"
    port = f"virtual://esp32c6?flash={flash_file}"
    output = espforge(
        "--port",
        port,
        "--before",
        "no-reset",
        "read-flash",
        "0",
        "0x2000",
        str(tmp_path / "out.bin"),
        env={"ESPFORGE_STUB_DIR": str(STUB_DIR)},
    )
    assert "Stub flasher running." in output


def test_without_a_stub_file_it_says_so_once_and_uses_the_rom(tmp_path: Path, payload) -> None:
    port = f"virtual://esp32c3?flash={tmp_path / 'flash.bin'}&log={tmp_path / 'log.jsonl'}"
    output = espforge("--port", port, "--before", "no-reset", "write-flash", "0", str(payload))
    assert output.count("talks to the ROM bootloader directly") == 1
    assert "no flasher stub file for ESP32-C3" in output and "Hash of data verified." in output
    assert "MEM_BEGIN" not in logged_ops(tmp_path / "log.jsonl")


def test_no_stub_forces_the_rom(tmp_path: Path, payload) -> None:
    port = f"virtual://esp32c3?flash={tmp_path / 'flash.bin'}&log={tmp_path / 'log.jsonl'}"
    stub = str(stub_file("esp32c3"))
    espforge("--port", port, "--before", "no-reset", "--stub-file", stub, "--no-stub", "flash-id")
    assert "MEM_BEGIN" not in logged_ops(tmp_path / "log.jsonl")


def test_a_stub_that_never_greets_falls_back_to_the_rom(
    tmp_path: Path, payload, monkeypatch
) -> None:
    short_timeouts(monkeypatch, tmp_path)
    silent = tmp_path / "silent.json"
    document = json.loads(stub_file("esp32c3").read_text())
    silent.write_text(json.dumps(document | {"entry": 0}))  # entry 0: the ROM does not jump
    port = f"virtual://esp32c3?flash={tmp_path / 'flash.bin'}"
    output = espforge(
        "--port", port, "--before", "no-reset", "--stub-file", str(silent),
        "write-flash", "0x1000", str(payload),
    )  # fmt: skip
    assert "The flasher stub did not start (" in output
    assert "silent.json sent nothing where its greeting OHAI was due); carrying on" in output
    assert "Hash of data verified." in output
    flash = (tmp_path / "flash.bin").read_bytes()
    assert flash[0x1000 : 0x1000 + payload.stat().st_size] == payload.read_bytes()


def test_a_stub_left_running_is_used_again(tmp_path: Path, payload) -> None:
    """--after no-reset-stub, then --before no-reset-no-sync talks to the running stub."""
    virtual = chip_from_options("esp32c3", {"flash": str(tmp_path / "flash.bin")})
    virtual.flash.program(0x3000, payload.read_bytes()[:0x2000])
    read_back = tmp_path / "read.bin"
    try:
        with TcpServer(virtual) as server:
            common = ["--chip", "esp32c3", "--port", server.port]
            stub = ["--stub-file", str(stub_file("esp32c3"))]
            output = espforge(*common, *stub, "--before", "no-reset", "--after", "no-reset-stub",
                              "flash-id")  # fmt: skip
            assert "Staying in flasher stub." in output and virtual.stub is not None
            output = espforge(*common, "--before", "no-reset-no-sync", "--after", "no-reset",
                              "read-flash", "0x3000", "0x2000", str(read_back))  # fmt: skip
            assert "Stub flasher is already running." in output
            assert virtual.stub is None  # --after no-reset sent it back to the ROM
    finally:
        virtual.close()
    assert read_back.read_bytes() == payload.read_bytes()[:0x2000]


def short_timeouts(monkeypatch, tmp_path: Path) -> None:
    config = tmp_path / "esptool.cfg"
    config.write_text("[espforge]\ntimeout = 0.5\n")
    monkeypatch.setenv("ESPFORGE_CFGFILE", str(config))


def test_an_interrupted_read_ends_in_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    short_timeouts(monkeypatch, tmp_path)
    # The chip hangs up after the READ_FLASH command, with the first packets sent.
    port = f"virtual://esp32c3?flash={tmp_path / 'flash.bin'}&faults=disconnect_after=12"
    with (
        open_device(ConnectOptions(port, "esp32c3", before="no-reset", connect_attempts=1),
                    after=None, stub=StubSource(str(stub_file("esp32c3")))) as device,
        pytest.raises(PortError, match="failed .*hung up.*Reconnect it and try again"),
    ):  # fmt: skip
        assert device.loader.dialect is STUB_DIALECT
        commands = len(device.loader.port.chip.command_log)
        device.loader.port.chip.options.faults.disconnect_after = commands + 1
        device.loader.read_flash(0, 0x100000)


def test_a_write_whose_link_drops_is_sent_again_through_a_new_stub(
    tmp_path: Path, monkeypatch, payload
) -> None:
    """The port fails mid-write; reopening it finds the chip reset (a virtual:// port makes a
    fresh chip), so the stub is uploaded again and the whole transfer resent."""
    short_timeouts(monkeypatch, tmp_path)
    flash_file = tmp_path / "flash.bin"
    port = f"virtual://esp32c3?flash={flash_file}&faults=disconnect_after=1000"
    inputs = [FlashInput(0, payload.read_bytes(), "payload")]
    with open_device(ConnectOptions(port, "esp32c3", before="no-reset", connect_attempts=1),
                     after=None, stub=StubSource(str(stub_file("esp32c3")))) as device:  # fmt: skip
        plan = plan_write(device, check_inputs(inputs), WriteOptions())
        chip = device.loader.port.chip
        chip.options.faults.disconnect_after = len(chip.command_log) + 2  # BEGIN, one block
        execute_plan(device, plan)
        assert device.loader.dialect is STUB_DIALECT and device.loader.port.chip is not chip
        assert [entry.name for entry in device.loader.port.chip.command_log].count("MEM_END") == 1
    assert flash_file.read_bytes()[: len(payload.read_bytes())] == payload.read_bytes()


def test_an_interrupted_write_ends_in_a_clear_error(tmp_path: Path, monkeypatch, payload) -> None:
    """The link fails mid-write and the chip found on reopening hangs up at once too."""
    short_timeouts(monkeypatch, tmp_path)
    port = f"virtual://esp32c3?flash={tmp_path / 'flash.bin'}&faults=disconnect_after=1000"
    inputs = [FlashInput(0, payload.read_bytes(), "payload")]
    with open_device(ConnectOptions(port, "esp32c3", before="no-reset", connect_attempts=1),
                     after=None, stub=StubSource(str(stub_file("esp32c3")))) as device:  # fmt: skip
        plan = plan_write(device, check_inputs(inputs), WriteOptions())
        chip = device.loader.port.chip
        chip.options.faults.disconnect_after = len(chip.command_log) + 2  # BEGIN, one block

        def hung_up_chip(name: str, options: dict[str, str]):
            return chip_from_options(name, options | {"faults": "disconnect_after=1"})

        monkeypatch.setattr("espforge.virtual.protocol_virtual.chip_from_options", hung_up_chip)
        with pytest.raises(PortError, match="failed .*hung up.*Reconnect it and try again"):
            execute_plan(device, plan)


def test_a_stub_the_rom_will_not_load_falls_back_to_the_rom(tmp_path: Path, payload) -> None:
    misplaced = tmp_path / "misplaced.json"
    document = json.loads(stub_file("esp32c6").read_text())
    misplaced.write_text(json.dumps(document | {"text_start": 0x10}))  # not RAM
    port = f"virtual://esp32c6?flash={tmp_path / 'flash.bin'}"
    output = espforge(
        "--port", port, "--before", "no-reset", "--stub-file", str(misplaced), "flash-id"
    )  # fmt: skip
    assert "The flasher stub did not start (failed to enter RAM download mode" in output
    assert "Detected flash size: 4MB" in output


def test_the_stub_directory_comes_from_the_config_file(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "esptool.cfg"
    config.write_text(f"[espforge]\nstub_dir = {STUB_DIR}\n")
    monkeypatch.setenv("ESPFORGE_CFGFILE", str(config))
    port = f"virtual://esp32h2?flash={tmp_path / 'flash.bin'}"
    assert "Stub flasher running." in espforge("--port", port, "--before", "no-reset", "flash-id")


@pytest.mark.parametrize(
    ("revision", "expected"), [("1.0", "esp32p4-rev1.json"), ("3.0", "esp32p4.json")]
)
def test_the_stub_for_the_chip_revision_is_chosen(tmp_path: Path, revision, expected) -> None:
    port = f"virtual://esp32p4?flash={tmp_path / 'flash.bin'}&revision={revision}"
    source = StubSource(directory=str(STUB_DIR))
    options = ConnectOptions(port, "esp32p4", before="no-reset")
    with open_device(options, after=None, stub=source) as device:
        assert device.loader.dialect is STUB_DIALECT
        assert Path(device.loader.stub_image.source).name == expected


@pytest.mark.parametrize("stub", [True, False])
def test_run_starts_the_application_from_the_stub_or_the_rom(tmp_path: Path, stub) -> None:
    virtual = chip_from_options("esp32c3", {"flash": str(tmp_path / "flash.bin")})
    mode = ["--stub-file", str(stub_file("esp32c3"))] if stub else ["--no-stub"]
    try:
        with TcpServer(virtual) as server:
            espforge("--chip", "esp32c3", "--port", server.port, *mode, "--after", "no-reset-stub"
                     if stub else "no-reset", "run")  # fmt: skip
            virtual.read()
            assert virtual.state is BootState.APPLICATION
    finally:
        virtual.close()
