"""`espforge stub info FILE`: what a flasher stub file holds."""

from __future__ import annotations

from espforge.cli.commands import Invocation
from espforge.protocol.stub_image import load_stub_file


def run_stub_info(invocation: Invocation) -> None:
    for line in load_stub_file(invocation.arguments["filename"]).describe():
        invocation.echo(line)
