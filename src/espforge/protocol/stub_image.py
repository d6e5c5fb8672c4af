"""Flasher stub images: the JSON files esptool's and esp-flasher-stub's releases carry, and
where to find the one for a chip.

A stub JSON holds `entry`, `text`/`text_start`, `data`/`data_start` and `bss_start`, payloads
in base64. Files are named after the chip (`esp32c3.json`), with a `<chip>-rev<major>.json`
preferred where a chip revision needs its own stub. espforge ships no stub binaries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from espforge.chips import ChipSpec
from espforge.errors import EspforgeError
from espforge.fileio import read_input


class StubError(EspforgeError):
    """A stub file that cannot be used, or a stub that did not start."""


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
