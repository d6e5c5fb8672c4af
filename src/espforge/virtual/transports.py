"""Ways to reach a virtual chip from another process: a pseudo-terminal or a loopback TCP port.

Each server runs one background thread that moves bytes between the chip and the host, waking
when the host sends something or when the chip has output due. Neither a PTY nor a TCP socket
carries modem lines, so these chips are reset only through their own faults or `chip.reset()`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
import threading
import tty
from collections.abc import Callable, Mapping

from espforge.errors import EspforgeError
from espforge.fileio import write_output
from espforge.virtual.chip import VirtualChip
from espforge.virtual.config import chip_from_options

IDLE_WAIT = 0.1  # longest sleep when the chip has nothing scheduled
READ_SIZE = 65536


class ChipServer:
    """Serves a VirtualChip on some endpoint until stopped; use as a context manager."""

    def __init__(self, chip: VirtualChip) -> None:
        self.chip = chip
        self._stop = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._thread: threading.Thread | None = None
        self.port = ""  # what a host opens: a device path or a socket:// URL

    def start(self) -> str:
        self._open()
        self._thread = threading.Thread(target=self._run, name=f"virtual-{self.port}", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_write, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> ChipServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _timeout(self) -> float:
        due = self.chip.next_due()
        if due is None:
            return IDLE_WAIT
        return min(max(due - self.chip.clock(), 0.0), IDLE_WAIT)

    def _pump(
        self, link: int, send: Callable[[bytes], int], receive: Callable[[], bytes | None]
    ) -> bool:
        """Move bytes both ways until the link closes; False when the server stops instead.

        `receive` returns b"" when the host hung up and None when there is nothing to read.
        """
        outgoing = b""
        while not self._stop.is_set():
            outgoing += self.chip.read()
            writers = [link] if outgoing else []
            readable, writable, _ = select.select(
                [link, self._wake_read], writers, [], self._timeout()
            )
            if link in readable:
                data = receive()
                if data == b"":
                    return True  # the host went away
                if data:
                    self.chip.receive(data)
            if link in writable and outgoing:
                outgoing = outgoing[send(outgoing) :]
            if self.chip.disconnected:
                self._flush(link, send, outgoing + self.chip.read())
                return True
        return False

    @staticmethod
    def _flush(link: int, send: Callable[[bytes], int], data: bytes) -> None:
        """Send what is already due before hanging up (bounded: a stuck host is dropped)."""
        for _ in range(100):
            if not data or not select.select([], [link], [], IDLE_WAIT)[1]:
                return
            data = data[send(data) :]

    def _open(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class PtyServer(ChipServer):
    """The chip behind a pseudo-terminal; hosts open the slave device (`port`)."""

    def _open(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or line editing before the host configures it
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)

    def _run(self) -> None:
        self._pump(self._master, self._send, self._receive)
        self._close_master()  # a hang-up: the host sees the port fail

    def _send(self, data: bytes) -> int:
        try:
            return os.write(self._master, data)
        except BlockingIOError:
            return 0

    def _receive(self) -> bytes | None:
        # We hold the slave open ourselves, so the master never reads end-of-file: a host
        # closing the device is not a hang-up for the chip, and EIO just means nothing yet.
        try:
            return os.read(self._master, READ_SIZE) or None
        except BlockingIOError:
            return None
        except OSError as error:
            if error.errno == errno.EIO:
                return None
            raise

    def _close_master(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._master)

    def _close(self) -> None:
        self._close_master()
        with contextlib.suppress(OSError):
            os.close(self._slave)


class TcpServer(ChipServer):
    """The chip behind a loopback TCP port: `socket://127.0.0.1:PORT`, one host at a time."""

    def __init__(self, chip: VirtualChip, tcp_port: int = 0) -> None:
        super().__init__(chip)
        self._requested_port = tcp_port

    def _open(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind(("127.0.0.1", self._requested_port))
        except OSError as error:
            self._listener.close()
            raise EspforgeError(
                f"cannot listen on 127.0.0.1:{self._requested_port} ({error.strerror}): "
                "choose another --tcp port"
            ) from None
        self._listener.listen(1)
        self.tcp_port = self._listener.getsockname()[1]
        self.port = f"socket://127.0.0.1:{self.tcp_port}"

    def _run(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self._listener, self._wake_read], [], [], IDLE_WAIT)
            if self._listener not in readable:
                continue
            connection, _ = self._listener.accept()
            with connection:
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._pump(connection.fileno(), connection.send, self._reader(connection))
            self.chip.disconnected = False  # a new host finds the chip still there

    @staticmethod
    def _reader(connection: socket.socket) -> Callable[[], bytes | None]:
        def receive() -> bytes | None:
            try:
                return connection.recv(READ_SIZE)
            except ConnectionError:
                return b""

        return receive

    def _close(self) -> None:
        self._listener.close()


def serve(
    chip: str,
    flash_size: str = "4MB",
    flash_file: str | None = None,
    pty: bool = False,
    tcp_port: int | None = None,
    port_file: str | None = None,
    options: Mapping[str, str] | None = None,
    announce: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Serve a virtual chip over a PTY (the default) or `tcp_port` until interrupted.

    Announces the port to open (a device path or socket:// URL) and writes it to `port_file`.
    `options` are the virtual:// URL options (mac, revision, start, faults, link, ...). Returns
    when `stop` is set, on Ctrl-C or on SIGTERM; the flash file holds every write by then.
    """
    if pty and tcp_port is not None:
        raise EspforgeError("choose either a PTY or a TCP port for the virtual chip, not both")
    settings = dict(options or {}) | {"flash_size": flash_size}
    if flash_file is not None:
        settings["flash"] = flash_file
    virtual = chip_from_options(chip, settings)
    server: ChipServer = PtyServer(virtual) if tcp_port is None else TcpServer(virtual, tcp_port)
    stop = stop or threading.Event()
    try:
        with server, _stop_on_sigterm(stop):
            announce(f"Virtual {virtual.chip.chip_name} ready on {server.port}")
            if port_file is not None:
                write_output(port_file, (server.port + "\n").encode())
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(IDLE_WAIT):
                    pass
    finally:
        virtual.close()


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event):
    """Turn SIGTERM into a clean stop while serving (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
