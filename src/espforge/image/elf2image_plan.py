"""What elf2image decides before any byte is laid out: its options and their checks, the header
fields, the pieces (sections or segments) merged where they touch, the MMU page size, and where
the ELF's SHA-256 goes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from espforge.chips import ChipSpec, get_chip
from espforge.errors import ImageError
from espforge.image.descriptors import parse_app_descriptor
from espforge.image.elf import ElfFile, ElfSection
from espforge.image.firmware import FLASH_MODES, MAX_SEGMENTS
from espforge.logs import library_logger

APP_DESC_SECTION = ".flash.appdesc"
APP_DESC_ELF_SHA256_OFFSET = 0xB0  # where a flash build's app descriptor holds the ELF's SHA-256
# esptool builds ESP8266 v3 images with its ESP32 image class, so their header flash codes and
# the memory types that decide section merging are the ESP32's.
ESP8266_V3_TABLES_CHIP = "esp32"

log = library_logger(__name__)


@dataclass
class Elf2ImageOptions:
    """elf2image's options, named and defaulted as esptool 5.6's command line has them.

    Sizes are in bytes. `flash_freq` None writes frequency code 0, as esptool does.
    """

    version: int = 1
    flash_mode: str = "qio"
    flash_freq: str | None = None
    flash_size: str = "1MB"
    min_rev: int = 0
    min_rev_full: int = 0
    max_rev_full: int = 65535
    secure_pad: bool = False
    secure_pad_v2: bool = False
    elf_sha256_offset: int | None = None
    append_digest: bool = True
    use_segments: bool = False
    flash_mmu_page_size: int | None = None
    pad_to_size: int | None = None
    ram_only_header: bool = False


@dataclass
class Piece:
    """A section or segment on its way into the image."""

    address: int
    data: bytes
    name: str
    align: int


@dataclass
class Plan:
    """Everything decided before layout: header fields, pieces, alignment, digest placement."""

    chip: ChipSpec
    tables_chip: ChipSpec  # whose flash codes and memory map the image format uses
    options: Elf2ImageOptions
    entry_point: int
    flash_mode: int
    flash_size_freq: int
    pieces: list[Piece]
    page_size: int
    elf_sha256: bytes | None
    elf_sha256_offset: int
    append_digest: bool

    def is_flash(self, address: int) -> bool:
        if self.chip.image_format == "esp32":
            return self.chip.is_flash_mapped(address)
        if self.options.version == 3:
            return address > self.chip.irom_map[0]
        return False  # v1 and v2 images map nothing from flash but irom0, handled apart


def plan_image(elf: ElfFile, chip: ChipSpec, options: Elf2ImageOptions, source: str) -> Plan:
    _check_options(chip, options, source)
    esp32_family = chip.image_format == "esp32"
    tables_chip = chip if options.version != 3 else get_chip(ESP8266_V3_TABLES_CHIP)
    plan = Plan(
        chip=chip,
        tables_chip=tables_chip,
        options=options,
        entry_point=elf.entry_point,
        flash_mode=FLASH_MODES[options.flash_mode],
        flash_size_freq=_flash_size_freq(tables_chip, options),
        pieces=_pieces(elf, options, source),
        page_size=chip.irom_align if esp32_family or options.version == 3 else 0,
        elf_sha256=None,
        elf_sha256_offset=0,
        append_digest=not esp32_family or (options.append_digest and not options.ram_only_header),
    )
    _choose_page_size(plan, elf, source)
    _place_elf_sha256(plan, elf)
    if options.ram_only_header:
        log.info(
            "Image has only RAM segments visible. "
            "ROM segments are hidden and SHA256 digest is not appended."
        )
        plan.pieces.sort(key=lambda piece: piece.address)
    _merge_adjacent(plan)
    if len(plan.pieces) > MAX_SEGMENTS:
        raise ImageError(
            f"{source}: Invalid segment count {len(plan.pieces)} (max {MAX_SEGMENTS}). Usually "
            "this indicates a linker script problem."
        )
    return plan


def _check_options(chip: ChipSpec, options: Elf2ImageOptions, source: str) -> None:
    """Refuse option combinations esptool refuses, or that only make sense for other chips."""
    esp32_family = chip.image_format == "esp32"
    secure_padding = options.secure_pad or options.secure_pad_v2
    checks = (
        (
            options.version not in (1, 2, 3),
            f"image version {options.version} does not exist; choose 1, 2 or 3",
        ),
        (
            esp32_family and options.version != 1,
            f"image versions 2 and 3 are for the ESP8266; drop --version for {chip.chip_name}",
        ),
        (
            esp32_family and options.secure_pad and not chip.secure_boot_v1,
            f"--secure-pad is for Secure Boot v1, which the {chip.chip_name} lacks; "
            "use --secure-pad-v2",
        ),
        (
            options.flash_mode not in FLASH_MODES,
            f"flash mode '{options.flash_mode}' is unknown; choose one of {', '.join(FLASH_MODES)}",
        ),
        (
            not 0 <= options.min_rev <= 0xFF,
            f"--min-rev {options.min_rev} does not fit the header's byte; give 0 to 255",
        ),
        (
            not (0 <= options.min_rev_full <= 0xFFFF and 0 <= options.max_rev_full <= 0xFFFF),
            f"chip revisions {options.min_rev_full} and {options.max_rev_full} must each fit "
            "16 bits; give 0 to 65535 (major * 100 + minor)",
        ),
        (
            options.pad_to_size is not None and options.pad_to_size < 0,
            f"pad size {options.pad_to_size} is negative; give a block size such as 64KB",
        ),
        (
            esp32_family
            and secure_padding
            and (options.ram_only_header or not options.append_digest),
            "secure padding needs the SHA-256 digest appended; "
            "drop --dont-append-digest and --ram-only-header",
        ),
    )
    for failed, problem in checks:
        if failed:
            raise ImageError(f"{source}: {problem}")


def _flash_size_freq(chip: ChipSpec, options: Elf2ImageOptions) -> int:
    if options.flash_size not in chip.flash_sizes:
        raise ImageError(
            f"flash size '{options.flash_size}' is not supported by the {chip.chip_name}; "
            f"choose one of: {', '.join(chip.flash_sizes)}"
        )
    size_code = chip.flash_sizes[options.flash_size]
    if options.flash_freq is None:
        return size_code  # esptool writes frequency code 0, each chip's default
    if options.flash_freq not in chip.flash_frequencies:
        raise ImageError(
            f"flash frequency '{options.flash_freq}' is not supported by the {chip.chip_name}; "
            f"choose one of: {', '.join(chip.flash_frequencies)}"
        )
    return size_code + chip.flash_frequencies[options.flash_freq]


def _pieces(elf: ElfFile, options: Elf2ImageOptions, source: str) -> list[Piece]:
    if options.use_segments and elf.program_header_count == 0:
        raise ImageError(f"{source}: has no program headers, so --use-segments has nothing to use")
    parts = elf.segments if options.use_segments else elf.sections
    # Every loadable part is padded to a 4-byte length before anything else happens to it.
    return [
        Piece(part.address, part.data + bytes(-len(part.data) % 4), part.name, part.align)
        for part in parts
    ]


def _first_app_desc(
    parts: Sequence[ElfSection] | Sequence[Piece], plan: Plan
) -> ElfSection | Piece | None:
    """The first app-descriptor section, if it lies in flash (a RAM build has one too)."""
    found = next((part for part in parts if APP_DESC_SECTION in part.name), None)
    return found if found is not None and plan.is_flash(found.address) else None


def _choose_page_size(plan: Plan, elf: ElfFile, source: str) -> None:
    """The MMU page size flash segments align to: asked for, recorded by the app, or guessed."""
    if plan.options.flash_mmu_page_size:
        _set_page_size(plan, plan.options.flash_mmu_page_size, source)
        return
    supported = plan.chip.mmu_page_sizes if plan.chip.image_format == "esp32" else ()
    app_desc_section = _first_app_desc(elf.sections, plan)
    if app_desc_section is None or not supported:
        return
    descriptor = parse_app_descriptor(app_desc_section.data)
    if descriptor is None:
        return
    if descriptor.mmu_page_size_log2:
        # esptool goes through a whole number of KB, so tiny recorded sizes become 0.
        _set_page_size(plan, (1 << descriptor.mmu_page_size_log2) // 1024 * 1024, source)
        return
    # Older apps record no size: the descriptor sits just after the image, extended and segment
    # headers (32 bytes) into a page, so pick the largest page size that fits that.
    for size in reversed(supported):
        if (app_desc_section.address - 32) % size == 0:
            plan.page_size = size
            log.info("MMU page size not specified, set to %d KB", size // 1024)
            return
    log.warning(
        "App description segment is not aligned to MMU page size, probably linker "
        "script issue or wrong MMU page size. Try to set MMU page size parameter manually."
    )


def _set_page_size(plan: Plan, size: int, source: str) -> None:
    supported = plan.chip.mmu_page_sizes if plan.chip.image_format == "esp32" else ()
    if not supported:
        if size != plan.page_size:
            fallback = f" Defaulting to {plan.page_size // 1024}KB." if plan.page_size else ""
            log.warning(
                "Changing MMU page size is not supported on %s!%s",
                plan.tables_chip.chip_name,
                fallback,
            )
        return
    if size not in supported:
        choices = ", ".join(f"{choice // 1024}KB" for choice in supported)
        raise ImageError(
            f"{source}: {size} bytes is not a valid {plan.chip.chip_name} MMU page size; "
            f"select from {choices}"
        )
    plan.page_size = size


def _place_elf_sha256(plan: Plan, elf: ElfFile) -> None:
    if plan.options.elf_sha256_offset:
        plan.elf_sha256, plan.elf_sha256_offset = elf.sha256(), plan.options.elf_sha256_offset
    elif _first_app_desc(plan.pieces, plan) is not None:
        plan.elf_sha256, plan.elf_sha256_offset = elf.sha256(), APP_DESC_ELF_SHA256_OFFSET


def _merge_adjacent(plan: Plan) -> None:
    """Join each piece that starts where the previous one ends, within one memory type.

    Walks backwards so a run of adjacent pieces folds into its first one. With
    --ram-only-header an ESP32-family piece is first padded up to the next one when that is
    exactly where the next piece's alignment puts it.
    """
    pieces = plan.pieces
    if not pieces:
        return
    pad_for_alignment = plan.chip.image_format == "esp32" and plan.options.ram_only_header
    kept: list[Piece] = []
    for earlier, later in reversed(list(pairwise(pieces))):
        if pad_for_alignment:
            _pad_to_aligned_successor(earlier, later)
        end = earlier.address + len(earlier.data)
        memory_map = plan.tables_chip
        same_memory = memory_map.region_names(earlier.address) == memory_map.region_names(
            later.address
        )
        if same_memory and later.address == end:
            earlier.data += later.data
        else:
            kept.insert(0, later)
    kept.insert(0, pieces[0])
    merged = len(pieces) - len(kept)
    if merged:
        log.info("Merged %d ELF section%s.", merged, "s" if merged > 1 else "")
    plan.pieces = kept


def _pad_to_aligned_successor(earlier: Piece, later: Piece) -> None:
    end = earlier.address + len(earlier.data)
    aligned_end = end + (-end % later.align if later.align > 1 else 0)
    if aligned_end != end and aligned_end == later.address:
        log.info(
            "NOTE: Inserting %d bytes padding between %s and %s",
            aligned_end - end,
            earlier.name,
            later.name,
        )
        earlier.data += bytes(aligned_end - end)
