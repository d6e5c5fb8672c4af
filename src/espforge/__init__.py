"""espforge: a toolkit for Espressif chips' serial ROM bootloader, firmware images and security."""

import logging

__version__ = "0.1.0"

# The library reports notes and warnings through logging; the CLI shows them. An API caller sees
# them only once it configures logging, as with any well-behaved library.
logging.getLogger(__name__).addHandler(logging.NullHandler())
