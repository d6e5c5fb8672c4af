"""Whether a firmware image can run on the connected chip: built for it, and for its revision."""

from __future__ import annotations

from collections.abc import Callable

from espforge.chips import ChipSpec
from espforge.errors import ImageError
from espforge.image.firmware import ExtendedHeader, load_image

Revision = tuple[int, int]  # (major, minor)


def image_incompatibility(
    chip: ChipSpec, data: bytes, source: str, chip_revision: Callable[[], Revision]
) -> str | None:
    """Why an image cannot run on `chip` (another chip's, or a revision it does not support),
    or None when it can or `data` is not an image. `chip_revision` is called only for an image
    that names the revisions it runs on."""
    try:
        image = load_image(data, chip, source, check_chip_id=False)
    except ImageError:
        return None  # not an image: plain data is not checked
    header = image.extended_header
    if header is None:
        return None
    if header.chip_id != chip.image_chip_id:
        return f"'{source}' is not an {chip.chip_name} image"
    if header.max_rev_full == 0 or (header.min_rev_full == 0 and header.max_rev_full == 0xFFFF):
        return None  # no full-revision requirement (legacy min_rev is not checked)
    major, minor = chip_revision()
    revision = major * 100 + minor
    if header.min_rev_full <= revision <= header.max_rev_full:
        return None
    return (
        f"'{source}' requires chip revision {_revision_range(header)} "
        f"(this chip is revision v{major}.{minor})"
    )


def _revision_range(header: ExtendedHeader) -> str:
    low, high = header.min_rev_full, header.max_rev_full
    if high == 0xFFFF:
        return f"v{low // 100}.{low % 100} or higher"
    if low == 0:
        return f"v{high // 100}.{high % 100} or lower"
    return f"in range v{low // 100}.{low % 100} - v{high // 100}.{high % 100}"
