"""A virtual Espressif chip as its UART sees it: raw bytes in, raw bytes out, two modem lines.

The chip is transport-independent: a transport feeds it what the host sent (`receive`), sets
the modem lines (`set_lines`), and drains what the chip sends (`read`, `next_due`). Output is
queued with the time it is due, so that an optional link model can throttle bytes to the baud
rate and charge flash erase/program times, while a plain chip answers at once.

Reset follows the usual USB-UART auto-reset circuit: RTS asserted alone pulls EN low (reset),
DTR asserted alone pulls GPIO0 low. When EN rises the chip samples GPIO0 a few milliseconds
later and boots into download mode (GPIO0 low) or from flash, printing what its ROM prints.

The UART's side (rates, the output queue) is in `chip_uart`, the chip's options in
`chip_options`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, TextIO

from espforge.chips import ChipSpec, get_chip
from espforge.errors import EspforgeError, ImageError
from espforge.image.firmware import load_image
from espforge.image.flash_params import flash_size_bytes
from espforge.link.slip import SlipDecoder, slip_encode
from espforge.protocol.commands import Opcode, Request, decode_command
from espforge.virtual.boot import BootOutcome, boot_from_flash
from espforge.virtual.chip_options import ChipOptions
from espforge.virtual.chip_uart import ChipUart, Chunk
from espforge.virtual.efuse_controller import efuse_controller_for
from espforge.virtual.identity import (
    ChipIdentity,
    rom_crystal_mhz,
    seed_registers,
)
from espforge.virtual.memory import AddressSpace, ram_ranges
from espforge.virtual.nor_flash import NorFlash
from espforge.virtual.rom import (
    INVALID_MESSAGE,
    BootloaderOptions,
    ChangeBaud,
    LeaveBootloader,
    Outcome,
    RomBootloader,
    RunRamCode,
)
from espforge.virtual.spi_flash import SpiController, SpiFlashDevice
from espforge.virtual.stub_dialect import GREETING, FlasherStub
from espforge.virtual.stub_rx import StubReceiver

if TYPE_CHECKING:
    from espforge.virtual.cpu.session import EmulatedCode

ROM_BAUD = 115200
STRAP_SAMPLE_DELAY = 0.01  # seconds after EN rises before GPIO0 is sampled
BOOT_IMAGE_READ = 0x10000  # bytes of flash the ROM looks at for the bootloader image
WATCHDOG_ENABLE = 1 << 31  # in the RTC watchdog's CONFIG0 register
RTC_SLOW_CLOCK_HZ = 136_000  # the RC slow clock the RTC watchdog counts


class BootState(Enum):
    RESET = "held in reset"
    DOWNLOAD = "download mode"
    APPLICATION = "running the application in flash"
    RAM_CODE = "running code loaded into RAM"


@dataclass(frozen=True)
class LoggedCommand:
    """One command the chip decoded, with the status it answered."""

    time: float
    opcode: int
    data: bytes
    checksum: int
    status: tuple[int, int]

    @property
    def name(self) -> str:
        try:
            return Opcode(self.opcode).name
        except ValueError:
            return f"0x{self.opcode:02x}"


def parse_flash_size(text: str) -> int:
    """Bytes of flash for "4MB", "512KB" and the like."""
    try:
        return flash_size_bytes(text.upper())
    except ImageError:
        raise EspforgeError(
            f"flash size '{text}' is not a size: give one such as 4MB or 512KB"
        ) from None


class VirtualChip(ChipUart):
    """The ROM bootloader of `chip`, with its flash, behind a byte stream."""

    def __init__(
        self,
        chip: ChipSpec,
        flash: NorFlash,
        options: ChipOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chip = chip
        self.flash = flash
        self.options = options or ChipOptions()
        self.identity = self.options.identity or ChipIdentity.default_for(chip)
        self.clock = clock
        self.command_log: list[LoggedCommand] = []
        self.baud = ROM_BAUD
        self._autobaud = True  # the ROM takes the rate of what the host sends, until told one
        self._host_bauds: list[tuple[float, int]] = []  # (since, rate) of the host's UART
        self._host_traffic = False  # whether bytes moved since the host last set its rate
        self.state = BootState.RESET
        self.disconnected = False
        self._lock = threading.RLock()
        self._faults = self.options.faults
        self._log_file = self._open_log(self.options.log_path)
        self._device = SpiFlashDevice(flash)
        self._output: deque[Chunk] = deque()
        self._input_free = self._output_free = self._cpu_free = 0.0
        self._en_high = True
        self._gpio0_low = False
        self._boot_at: float | None = None
        self._latched_download = not self.options.start_in_app
        self._commands = 0
        self.stub: FlasherStub | None = None  # set while a "RAM image" (a stub) runs
        self.cpu: EmulatedCode | None = None  # set while uploaded code runs (cpu=emulate)
        self.stub_receiver = StubReceiver()  # its receive buffers (stub_rx)
        self.last_boot: BootOutcome | None = None  # the last second-stage boot from flash
        self.efuse = efuse_controller_for(chip, self.identity, self.options.efuse_file)
        self.memory = AddressSpace()  # powered on: RAM holds nothing yet
        self._boot(download=self._latched_download, at=self.clock())

    @staticmethod
    def _open_log(path: str | None) -> TextIO | None:
        if path is None:
            return None
        try:
            return open(path, "a", encoding="utf-8")  # noqa: SIM115 - open while the chip is
        except OSError as error:
            raise EspforgeError(
                f"{path}: cannot write the command log ({error.strerror}); choose a writable file"
            ) from None

    @staticmethod
    def create(
        chip: str | ChipSpec,
        flash_size: str = "4MB",
        flash_file: str | None = None,
        options: ChipOptions | None = None,
    ) -> VirtualChip:
        spec = get_chip(chip) if isinstance(chip, str) else chip
        return VirtualChip(spec, NorFlash(parse_flash_size(flash_size), flash_file), options)

    # --- what transports call ---

    def receive(self, data: bytes) -> None:
        """Bytes the host sent."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            if self.disconnected or not self._serving():
                return  # a chip in reset or running code ignores the download protocol
            self._host_traffic = True
            host = self.host_baud_at(now)
            self._follow_host_baud(host)
            if not self._same_rate(host, self.baud):
                return  # framing errors: nothing the chip can decode
            arrival = now
            if self.options.link.throttle:
                arrival = max(now, self._input_free) + self._byte_time(len(data))
                self._input_free = arrival
            if self.cpu is not None:
                self.cpu.receive(data, arrival)  # the uploaded code reads its UART itself
                return
            for frame in self._decoder.feed(data):
                self._execute(frame, arrival)
                if not self._serving():
                    break

    def read(self, limit: int | None = None) -> bytes:
        """Bytes due to the host by now (at most `limit`)."""
        with self._lock:
            self._advance(self.clock())
            now = self.clock()
            out = bytearray()
            while self._output and self._output[0].due <= now:
                chunk = self._output[0]
                room = len(chunk.data) if limit is None else limit - len(out)
                if room <= 0:
                    break
                out += self._as_host_hears(chunk)[:room]
                self._host_traffic = True
                if room >= len(chunk.data):
                    self._output.popleft()
                else:
                    chunk.data = chunk.data[room:]
            return bytes(out)

    def pending(self) -> int:
        """How many bytes `read` would return now."""
        with self._lock:
            self._advance(self.clock())
            now = self.clock()
            return sum(len(chunk.data) for chunk in self._output if chunk.due <= now)

    def next_due(self) -> float | None:
        """When something next happens on its own (output due, a boot), on the chip's clock."""
        with self._lock:
            times = [self._output[0].due] if self._output else []
            if self._boot_at is not None:
                times.append(self._boot_at)
            return min(times) if times else None

    def set_lines(self, dtr: bool, rts: bool) -> None:
        """The host's modem lines (True = asserted), through the auto-reset transistors."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            en_high = not (rts and not dtr)
            self._gpio0_low = dtr and not rts
            if self._en_high and not en_high:
                self._hold_in_reset()
            elif en_high and not self._en_high:
                self._boot_at = now + STRAP_SAMPLE_DELAY
            self._en_high = en_high

    def reset(self, download: bool = True) -> None:
        """Reset the chip now, into download mode or booting from flash."""
        with self._lock:
            self._hold_in_reset()
            self._boot(download, self.clock())

    def close(self) -> None:
        with self._lock:
            self.flash.close()
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    # --- boot and reset ---

    def _advance(self, now: float) -> None:
        if self._boot_at is not None and now >= self._boot_at:
            at, self._boot_at = self._boot_at, None
            self._latched_download = self._gpio0_low
            self._boot(self._latched_download, at)

    def _hold_in_reset(self, flash_powered: bool = False) -> None:
        """Stop everything; the flash loses power too unless `flash_powered` (a software
        reset, or a jump out of the bootloader, leaves the flash supply on)."""
        self.state = BootState.RESET
        self.stub = self.cpu = None
        self._boot_at = None
        self._output.clear()
        if not flash_powered:
            self._device.power_cycle()

    def _boot(self, download: bool, at: float) -> None:
        self._autobaud = True
        self.stub = self.cpu = None
        self._input_free = self._output_free = self._cpu_free = at
        self._decoder = SlipDecoder()
        previous, self.memory = self.memory, AddressSpace()
        self.memory.keep_contents(previous, ram_ranges(self.chip))
        seed_registers(self.memory, self.chip, self.identity)
        if self.efuse is not None:
            self.efuse.attach(self.memory)  # the eFuse registers: what the chip's eFuses hold
        # The ROM times its UART from the crystal it believes in: an ESP8266 on 26 MHz, built
        # for 40, talks at 74880 until the host's sync sets the rate.
        crystal = self.identity.crystal_mhz
        self.baud = round(ROM_BAUD * crystal / rom_crystal_mhz(self.chip, self.memory, crystal))
        self._set_uart_divider()
        SpiController(self.chip.spi, self.memory, self._device)
        self._watch_watchdog()
        options = BootloaderOptions(
            crystal_mhz=self.identity.crystal_mhz,
            rom_crystal_mhz=lambda: rom_crystal_mhz(
                self.chip, self.memory, self.identity.crystal_mhz
            ),
            timing=self.options.link.timing,
            secure_download=self.options.secure_download,
            security=self.efuse.security_state if self.efuse is not None else None,
        )
        self.rom = RomBootloader(self.chip, self.memory, self._device, options)
        messages = self.chip.boot_messages
        if download:
            self.state = BootState.DOWNLOAD
            self._emit_text(messages.download_banner(), at)
        else:
            self.state = BootState.APPLICATION
            segments, entry = self._boot_image()
            self._emit_text(messages.flash_boot_banner(segments, entry), at)
            self._run_second_stage(segments is not None, at)

    def _run_second_stage(self, loaded: bool, at: float) -> None:
        """ESP-IDF's bootloader picks and checks the app (virtual/boot.py), when the ROM
        loaded one; `last_boot` keeps what it did (None: no second stage ran)."""
        self.last_boot = None
        if loaded and self.chip.esp_idf_layout:
            self.last_boot = boot_from_flash(self.chip, self.flash, self.options.rollback)
            self._emit_text(self.last_boot.text, at)

    def _boot_image(self) -> tuple[list[tuple[int, int]] | None, int]:
        """The segments the ROM would load from flash, or None when flash holds no image."""
        offset = self.chip.bootloader_flash_offset
        data = self.flash.read(offset, min(BOOT_IMAGE_READ, self.flash.size - offset))
        try:
            image = load_image(data, self.chip, "flash")
        except EspforgeError:
            return None, 0
        segments = [(s.load_address, len(s.data)) for s in image.segments if s.in_checksum]
        return segments, image.entry_point

    def _watch_watchdog(self) -> None:
        """The RTC watchdog: enabled while unlocked, it resets the chip when it runs out
        (esptool's --after watchdog-reset), which samples the boot strap again."""
        watchdog = self.chip.watchdog
        if watchdog is None:
            return

        def configured(_address: int, value: int) -> None:
            unlocked = self.memory.read_word(watchdog.wdt_protect) == watchdog.wdt_key
            if value & WATCHDOG_ENABLE and unlocked:
                ticks = self.memory.read_word(watchdog.wdt_config1)
                self._boot_at = self.clock() + ticks / RTC_SLOW_CLOCK_HZ

        self.memory.on_write(watchdog.wdt_config0, configured)

    # --- commands ---

    def _serving(self) -> bool:
        """Whether the bootloader or a flasher stub is listening to the host."""
        return self.state is BootState.DOWNLOAD or self.stub is not None or self.cpu is not None

    def _execute(self, frame: bytes, arrival: float) -> None:
        if self.stub is not None:
            self._execute_in_stub(self.stub, frame, arrival)
            return
        request = decode_command(frame)
        if request is None:
            if len(frame) < 2 or frame[0] != 0:
                return  # not a request at all: the ROM ignores it
            # A request whose length field disagrees with its data: a malformed message.
            request = Request(frame[1], 0, frame[8:])
            outcome = Outcome(status=(1, INVALID_MESSAGE))
            outcome.responses.append(self.rom.reply(frame[1], status=outcome.status))
        else:
            outcome = self.rom.handle(request)
        self._respond(request, outcome, arrival)

    def _execute_in_stub(self, stub: FlasherStub, frame: bytes, arrival: float) -> None:
        buffered = not stub.polled(frame)
        if buffered:
            first_byte = arrival
            if self.options.link.throttle:
                first_byte -= self._byte_time(len(frame) + 2)  # + the two frame delimiters
            if not self.stub_receiver.admit(first_byte, arrival):
                return  # sent too far ahead: the stub lost a command (see stub_rx)
        stub.idle_seconds = max(0.0, arrival - self._cpu_free)
        request, outcome = stub.handle_frame(frame)
        if outcome is None:
            return
        start = max(arrival, self._cpu_free)
        self._respond(request, outcome, arrival)
        if buffered and request is not None:
            self.stub_receiver.record(request.opcode, start, self._cpu_free)

    def _respond(self, request: Request | None, outcome: Outcome, arrival: float) -> None:
        """Send `outcome`'s packets once the chip is free; `request` None: a stub read's ack."""
        opcode = Opcode.READ_FLASH if request is None else request.opcode
        if request is not None:
            self._log(request, outcome.status)
        due = max(arrival, self._cpu_free) + outcome.work_seconds + self.options.link.latency
        self._cpu_free = due + outcome.background_seconds
        for packet in outcome.responses:
            self._emit(slip_encode(packet), due, opcode)
        self._apply(outcome, due)
        if request is not None:
            self._count_command(due)

    def _apply(self, outcome: Outcome, due: float) -> None:
        action = outcome.action
        if isinstance(action, ChangeBaud):
            if action.claimed_current is None:
                self.baud = action.baud
            else:
                self.baud = round(self.baud * action.baud / action.claimed_current)
            self._autobaud = False
            self._set_uart_divider()
        elif isinstance(action, LeaveBootloader):
            download = self._latched_download if action.reboot else False
            self._restart_after_output(download, due)
        elif isinstance(action, RunRamCode) and self.options.emulate_cpu:
            self._run_uploaded_code(action.entry, due)
        elif isinstance(action, RunRamCode):
            # Whatever was loaded, the chip answers as a flasher stub from now on.
            self.state = BootState.RAM_CODE
            self._autobaud = False  # the loaded code keeps the UART as the ROM left it
            self.stub = FlasherStub(self.chip, self.memory, self._device, self.rom.options)
            self.stub_receiver = StubReceiver()
            self._emit(slip_encode(GREETING), due, Opcode.MEM_END)

    def _run_uploaded_code(self, entry: int, due: float) -> None:
        # Imported here: the emulator (unicorn) is an optional extra, needed only for this.
        from espforge.virtual.cpu.session import EmulatedCode

        self.state = BootState.RAM_CODE
        self._autobaud = False  # the loaded code keeps the UART as the ROM left it
        self.cpu = EmulatedCode(
            self.chip, self.identity, self.memory, self._device,
            output=lambda data, at: self._queue(data, at),
            set_divider=self._cpu_divider,
            log=self._log_event,
        )  # fmt: skip
        self.cpu.start(entry, due)

    def _cpu_divider(self, divider16: int, _at: float) -> None:
        """The code set UART0's divider (1/16 units of the crystal clock): its new rate."""
        if divider16:  # 0 stops the UART's clock: nothing the host could hear either way
            self.baud = round(self.identity.crystal_mhz * 1_000_000 * 16 / divider16)

    def _log_event(self, message: str) -> None:
        if self._log_file is not None:
            self._log_file.write(json.dumps({"time": round(self.clock(), 6), "event": message}))
            self._log_file.write("\n")
            self._log_file.flush()

    def _restart_after_output(self, download: bool, due: float) -> None:
        """Leave the bootloader once the last response is out: keep it, then boot again."""
        pending = list(self._output)
        self._hold_in_reset(flash_powered=True)
        self._output.extend(pending)
        self._boot(download, max(due, self._output_free))

    def _count_command(self, due: float) -> None:
        self._commands += 1
        faults = self._faults
        if faults is None:
            return
        if faults.reset_after is not None and self._commands >= faults.reset_after:
            faults.reset_after = None
            self._hold_in_reset()
            self._boot(download=True, at=due)
        if faults.disconnect_after is not None and self._commands >= faults.disconnect_after:
            faults.disconnect_after = None
            self.disconnected = True

    def _log(self, request: Request, status: tuple[int, int]) -> None:
        entry = LoggedCommand(self.clock(), request.opcode, request.data, request.checksum, status)
        self.command_log.append(entry)
        if self._log_file is not None:
            record = {
                "time": round(entry.time, 6),  # the chip's clock, for timelines
                "op": entry.name,
                "opcode": entry.opcode,
                "checksum": entry.checksum,
                "data": entry.data.hex(),
                "status": list(status),
            }
            self._log_file.write(json.dumps(record) + "\n")
            self._log_file.flush()
