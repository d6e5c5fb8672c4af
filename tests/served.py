"""A virtual chip served the way a user serves one: `espforge virtual serve` in a subprocess,
and the SYNC exchange that shows a transport reaches it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from espforge.link.slip import SlipDecoder, slip_encode
from espforge.protocol.commands import SYNC_PAYLOAD, Opcode, decode_response, encode_command

SYNC_FRAME = slip_encode(encode_command(Opcode.SYNC, SYNC_PAYLOAD))


def sync_replies(read, write) -> int:
    """Send one SYNC and count the SYNC responses that come back within a second."""
    write(SYNC_FRAME)
    decoder, count = SlipDecoder(), 0
    deadline = time.monotonic() + 1
    while count < 8 and time.monotonic() < deadline:
        for frame in decoder.feed(read()):
            response = decode_response(frame)
            count += response is not None and response.opcode == Opcode.SYNC
    return count


@contextlib.contextmanager
def served_chip(tmp_path: Path, *how: str):
    """`espforge virtual serve` in a subprocess; yields the port it announces in --port-file."""
    port_file = tmp_path / "port.txt"
    flash_file = tmp_path / "served-flash.bin"
    command = [sys.executable, "-c", SERVE_WITH_STACK_DUMPS, "virtual", "serve", "--chip"]
    command += ["esp32c3", "--flash-file", str(flash_file), "--port-file", str(port_file), *how]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists():
            assert server.poll() is None, server.communicate()
            assert time.monotonic() < deadline, "the virtual chip did not announce its port"
            time.sleep(0.05)
        yield port_file.read_text().strip(), flash_file
    finally:
        server.terminate()
        _wait_for_exit(server)


# `espforge` that prints every thread's stack on SIGUSR1: a server that does not stop shows why.
SERVE_WITH_STACK_DUMPS = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1); "
    "sys.argv[0] = 'espforge'; from espforge.cli.main import main; main()"
)


def _wait_for_exit(server: subprocess.Popen) -> None:
    try:
        server.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        server.send_signal(signal.SIGUSR1)
        time.sleep(1)
        server.kill()
        _, stacks = server.communicate()
        pytest.fail(f"the virtual chip did not stop on SIGTERM; its threads:\n{stacks}")
