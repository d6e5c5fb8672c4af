"""Flasher stubs: their JSON images, uploading and starting one, and the dialect it speaks.

A stub is a small program the host loads into the chip's RAM (MEM_BEGIN/MEM_DATA per segment,
MEM_END with its entry point). Once running it sends the raw packet `OHAI` and then answers the
ROM's commands with a richer dialect: 16 KB flash blocks acknowledged before they are written,
writes that erase as they go, READ_FLASH with windowed acknowledgements and a trailing MD5,
whole-chip and region erase, MD5 as 16 raw bytes, and CHANGE_BAUDRATE taking the old rate too.

espforge ships no stub binaries. It reads the JSON files esptool's and esp-flasher-stub's
releases carry (`entry`, `text`/`text_start`, `data`/`data_start`, `bss_start`; payloads in
base64), named after the chip (`esp32c3.json`), with a `<chip>-rev<major>.json` preferred where
a chip revision needs its own stub.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from espforge.chips import ChipSpec
from espforge.chips.base import FLASH_BLOCK_SIZE, FLASH_PAGE_SIZE, FLASH_SECTOR_SIZE
from espforge.errors import CommandFailed, EspforgeError, ProtocolError
from espforge.fileio import read_input
from espforge.logs import library_logger
from espforge.protocol.commands import Opcode
from espforge.protocol.loader import RomLoader

log = library_logger(__name__)

GREETING = b"OHAI"
STUB_FLASH_BLOCK = 0x4000
READ_PACKET_SIZE = FLASH_SECTOR_SIZE  # what esptool asks for; the stub sends packets this big
READ_WINDOW = 64  # packets the stub may send ahead of our acknowledgements


class StubError(EspforgeError):
    """A stub file that cannot be used, or a stub that did not start."""


# ---------------------------------------------------------------------- stub images


@dataclass(frozen=True)
class StubImage:
    """What a stub JSON file holds."""

    source: str
    entry: int
    text: bytes
    text_start: int
    data: bytes
    data_start: int | None
    bss_start: int | None

    @property
    def segments(self) -> list[tuple[int, bytes]]:
        """(load address, bytes) of each segment to upload, in upload order."""
        segments = [(self.text_start, self.text)]
        if self.data_start is not None and self.data:
            segments.append((self.data_start, self.data))
        return segments

    def describe(self) -> list[str]:
        """Lines for `espforge stub info`."""
        lines = [f"Stub file: {self.source}", f"Entry point: {self.entry:#010x}"]
        for name, (start, payload) in zip(("text", "data"), self.segments, strict=False):
            end = start + len(payload)
            digest = hashlib.md5(payload).hexdigest()
            lines.append(
                f"{name + ':':<6}{start:#010x}-{end:#010x} ({len(payload)} bytes, MD5 {digest})"
            )
        if self.bss_start is not None:
            lines.append(f"bss:  starts at {self.bss_start:#010x}")
        return lines


def parse_stub(raw: bytes, source: str) -> StubImage:
    """The stub image in a JSON file's bytes; `source` names the file in errors."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StubError(f"{source}: not a stub JSON file ({error}); give a stub .json") from None
    if not isinstance(document, dict):
        raise StubError(f"{source}: not a stub JSON file (expected an object at the top)")
    try:
        return StubImage(
            source=source,
            entry=_address(document, "entry", source),
            text=_payload(document, "text", source),
            text_start=_address(document, "text_start", source),
            data=_payload(document, "data", source) if "data" in document else b"",
            data_start=_address(document, "data_start", source) if "data" in document else None,
            bss_start=_address(document, "bss_start", source) if "bss_start" in document else None,
        )
    except KeyError as missing:
        raise StubError(f"{source}: the stub JSON has no {missing} field") from None


def _address(document: dict, key: str, source: str) -> int:
    value = document[key]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 32:
        raise StubError(f"{source}: '{key}' must be a 32-bit address, not {value!r}")
    return value


def _payload(document: dict, key: str, source: str) -> bytes:
    value = document[key]
    try:
        if not isinstance(value, str):
            raise ValueError
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise StubError(f"{source}: '{key}' is not base64 text") from None


def load_stub_file(path: str | Path) -> StubImage:
    return parse_stub(read_input(path), str(path))


def stub_file_names(chip: ChipSpec, major_revision: int | None) -> list[str]:
    """File names to look for, the most specific first."""
    names = [f"{chip.name}.json"]
    if major_revision is not None:
        names.insert(0, f"{chip.name}-rev{major_revision}.json")
    return names


@dataclass(frozen=True)
class StubSource:
    """Where stubs come from: one file (--stub-file) or a directory of them (stub_dir)."""

    file: str | None = None
    directory: str | None = None

    def image_for(
        self, chip: ChipSpec, major_revision: Callable[[], int | None]
    ) -> StubImage | None:
        """The stub for `chip`, or None when there is none to use."""
        if self.file is not None:
            return load_stub_file(self.file)
        if self.directory is None:
            return None
        folder = Path(self.directory)
        if not folder.is_dir():
            raise StubError(
                f"{folder}: the stub directory does not exist; fix stub_dir/ESPFORGE_STUB_DIR"
            )
        for name in stub_file_names(chip, major_revision()):
            if (folder / name).is_file():
                return load_stub_file(folder / name)
        return None

    def describe_absence(self, chip: ChipSpec) -> str:
        where = f"in {self.directory}" if self.directory else "given"
        return (
            f"no flasher stub file for {chip.chip_name} {where} (give --stub-file FILE, or a "
            "directory of stub JSON files with --stub-dir, ESPFORGE_STUB_DIR or stub_dir in the "
            "config file)"
        )


# ---------------------------------------------------------------------- starting a stub


def start_stub(loader: RomLoader, image: StubImage) -> StubLoader:
    """Upload `image` through the ROM, start it and wait for its greeting."""
    log.info("Uploading stub flasher...")
    for address, payload in image.segments:
        block = loader.ram_block_size
        blocks = -(-len(payload) // block)
        loader.mem_begin(len(payload), blocks, block, address)
        for seq in range(blocks):
            loader.mem_block(payload[seq * block : (seq + 1) * block], seq)
    log.info("Running stub flasher...")
    loader.mem_finish(image.entry)
    frame = loader.link.read_frame(loader.settings.timeout)
    if frame != GREETING:
        heard = "nothing" if frame is None else f"{frame[:16]!r}"
        raise StubError(f"{image.source} sent {heard} where its greeting OHAI was due")
    log.info("Stub flasher running.")
    return StubLoader.taking_over(loader)


def adopt_running_stub(loader: RomLoader) -> StubLoader:
    """Talk to a stub left running by an earlier session."""
    log.info("Stub flasher is already running. No upload is necessary.")
    return StubLoader.taking_over(loader)


class StubLoader(RomLoader):
    """A chip running a flasher stub: the ROM client's commands in the stub's dialect."""

    @classmethod
    def taking_over(cls, loader: RomLoader) -> StubLoader:
        """This stub client on `loader`'s port, link and chip facts."""
        stub = cls.__new__(cls)
        stub.__dict__.update(loader.__dict__)
        stub.flash_block_size = STUB_FLASH_BLOCK
        stub.link.discard_input()
        return stub

    # --------------------------------------------------------------- flash writes

    def _stub_begin(
        self, opcode: int, size: int, blocks: int, offset: int, encrypted: bool, what: str
    ) -> None:
        # The stub erases as it writes: the begin is quick whatever the size. Every chip's
        # stub takes the encrypt word, the ESP32's too (whose ROM does not).
        words = struct.pack("<5I", size, blocks, self.flash_block_size, offset, int(encrypted))
        self._request(opcode, words, what)

    def flash_begin(self, size: int, offset: int, encrypted: bool = False) -> int:
        blocks = -(-size // self.flash_block_size)
        self._stub_begin(
            Opcode.FLASH_BEGIN, size, blocks, offset, encrypted, "enter flash download mode"
        )
        return blocks

    def flash_defl_begin(
        self, size: int, compressed_size: int, offset: int, encrypted: bool = False
    ) -> int:
        blocks = -(-compressed_size // self.flash_block_size)
        self._stub_begin(
            Opcode.FLASH_DEFL_BEGIN, size, blocks, offset, encrypted, "enter compressed flash mode"
        )
        return blocks

    def flash_defl_finish(self, reboot: bool = False, timeout: float | None = None) -> None:
        """End a compressed write; the answer comes once the last block is in flash, which
        takes as long as that block's data takes to program (`timeout`)."""
        self._request(
            Opcode.FLASH_DEFL_END,
            struct.pack("<I", int(not reboot)),
            "leave compressed flash mode",
            timeout=timeout,
        )

    def _require(self, supported: bool, operation: str, advice: str = "") -> None:
        """The stub serves every command a ROM may lack (MD5 as 16 raw bytes, which the ROM
        client's flash_md5 reads as such)."""

    # ---------------------------------------------------------------- reading

    def read_flash(
        self,
        offset: int,
        size: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> bytes:
        """`size` flash bytes from `offset`, streamed by the stub and checked by its MD5."""
        self._request(
            Opcode.READ_FLASH,
            struct.pack("<IIII", offset, size, READ_PACKET_SIZE, READ_WINDOW),
            "read flash",
        )
        data = bytearray()
        while len(data) < size:
            packet = self._read_packet(f"flash data at {offset + len(data):#x}")
            if len(packet) != min(READ_PACKET_SIZE, size - len(data)):
                raise ProtocolError(
                    f"reading flash at {offset + len(data):#x}: a {len(packet)}-byte packet "
                    f"where {min(READ_PACKET_SIZE, size - len(data))} were due; the link lost "
                    "data (try a lower --baud)"
                )
            data += packet
            self.link.write_frame(struct.pack("<I", len(data)))
            if progress:
                progress(len(data), size)
        digest = self._read_packet("the MD5 ending the read")
        if digest != hashlib.md5(data).digest():
            raise ProtocolError(
                f"reading {size} bytes at {offset:#x}: the data does not match the chip's MD5; "
                "the link corrupted it (try a lower --baud)"
            )
        return bytes(data)

    def _read_packet(self, what: str) -> bytes:
        packet = self.link.read_frame(self.settings.timeout)
        if packet is None:
            raise ProtocolError(
                f"the flasher stub stopped sending {what}: the chip stopped answering (check "
                "the cable and power; did it reset?)"
            )
        return packet

    # ---------------------------------------------------------------- erasing

    def erase_flash(self) -> None:
        self._request(
            Opcode.ERASE_FLASH, b"", "erase flash", timeout=self.settings.chip_erase_timeout
        )

    def erase_region(self, offset: int, size: int) -> None:
        self._request(
            Opcode.ERASE_REGION,
            struct.pack("<II", offset, size),
            "erase region",
            timeout=self.settings.timeout_for(self.settings.erase_region_timeout_per_mb, size),
        )

    # ------------------------------------------------------------ SPI and link

    def spi_attach(self, pins: int = 0) -> None:
        self._request(Opcode.SPI_ATTACH, struct.pack("<I", pins), "configure SPI flash pins")

    def spi_set_params(self, flash_size: int) -> None:
        self._request(
            Opcode.SPI_SET_PARAMS,
            struct.pack(
                "<IIIIII",
                0,
                flash_size,
                FLASH_BLOCK_SIZE,
                FLASH_SECTOR_SIZE,
                FLASH_PAGE_SIZE,
                0xFFFF,
            ),
            "set SPI flash parameters",
        )

    def change_baud(self, baud: int) -> None:
        """The stub takes the new rate as it is, and the one in use beside it."""
        self._switch_baud(baud, struct.pack("<II", baud, self.port.baudrate))

    # ----------------------------------------------------------------- leaving

    def soft_reset(self, stay_in_bootloader: bool) -> None:
        """Back to the ROM bootloader (an empty write ended with a reboot), or run the
        application in flash (RUN_USER_CODE, which the stub does not answer)."""
        if stay_in_bootloader:
            self.flash_begin(0, 0)
            with contextlib.suppress(ProtocolError, CommandFailed):
                self.flash_finish(reboot=True)
            return
        self.channel.send(Opcode.RUN_USER_CODE)

    def run_reset(self, after: str) -> None:
        if after == "no-reset":
            log.info("Staying in bootloader.")
            self.soft_reset(stay_in_bootloader=True)
        else:
            super().run_reset(after)
