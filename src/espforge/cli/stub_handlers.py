"""Handler of `espforge stub info FILE`: what a flasher stub file holds."""

from __future__ import annotations

from dataclasses import dataclass

from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.protocol.stub_image import load_stub_file


@dataclass(frozen=True)
class StubInfoOptions(CommandOptions):
    filename: str


@command(StubInfoOptions)
def run_stub_info(invocation: Invocation, options: StubInfoOptions) -> None:
    for line in load_stub_file(options.filename).describe():
        invocation.echo(line)
