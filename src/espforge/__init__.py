"""espforge: a toolkit for Espressif chips' serial ROM bootloader, firmware images and security."""

__version__ = "0.1.0"
