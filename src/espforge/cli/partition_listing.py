"""A partition table as `partition-table` lists it: its rows and the free space between them."""

from __future__ import annotations

from espforge.image.partition_table import PartitionTable, size_text


def table_listing(table: PartitionTable, source: str, flash_size: int | None) -> str:
    header = ("Name", "Type", "SubType", "Offset", "Size", "Flags")
    rows = [
        (
            partition.name,
            partition.type_label,
            partition.subtype_label,
            f"{partition.offset:#x}",
            f"{partition.size:#x} ({size_text(partition.size)})",
            ":".join(partition.flags),
        )
        for partition in table
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    lines = [f"Partition table at {table.offset:#x} from {source}: {len(table)} partitions"]
    for row in (header, *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
    gaps = table.free_gaps(flash_size)
    lines.append("Free space:" if gaps else "Free space: none between the partitions")
    lines += [f"  {start:#x}-{end - 1:#x} ({size_text(end - start)})" for start, end in gaps]
    if flash_size is None:
        lines.append(f"  (and from {table.end:#x} to the end of the flash: give --flash-size)")
    return "\n".join(lines)
