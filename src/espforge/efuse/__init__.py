"""eFuses: every chip's map as data (tables/), reading and explaining them, and burning them.

table.py loads a chip's map; state.py reads the blocks through any register access (a chip's
serial link or the virtual controller); values.py and report.py show them as espefuse does;
burn.py plans and programs burns; operations.py is espefuse's command set over one session.
"""
