"""Ways to reach a virtual chip from another process: a pseudo-terminal, a loopback TCP port or
a loopback RFC 2217 (telnet COM-port control) server.

Each server runs one background thread that moves bytes between the chip and the host, waking
when the host sends something or when the chip has output due. Neither a PTY nor a plain TCP
socket carries modem lines, so those chips are reset only through their own faults or
`chip.reset()`; over RFC 2217 the host's DTR/RTS reset the chip as an auto-reset circuit does.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import os
import re
import select
import signal
import socket
import threading
import tty
from collections.abc import Callable, Mapping

from serial.rfc2217 import IAC, IAC_DOUBLED, PortManager

from espforge.errors import EspforgeError
from espforge.fileio import write_output
from espforge.virtual.chip import VirtualChip
from espforge.virtual.config import chip_from_options
from espforge.virtual.protocol_virtual import Serial as VirtualPort

# Linux's termios2, which holds any rate as a number: the ioctl reading it, and where the
# output speed is in it (as 32-bit words).
TCGETS2 = 0x802C542A
TERMIOS2_OUTPUT_SPEED = 10
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
            outgoing += self._chip_output()
            writers = [link] if outgoing else []
            readable, writable, _ = select.select(
                [link, self._wake_read], writers, [], self._timeout()
            )
            if link in readable:
                data = receive()
                if data == b"":
                    return True  # the host went away
                if data:
                    self._host_input(data)
            if link in writable and outgoing:
                outgoing = outgoing[send(outgoing) :]
            if self.chip.disconnected:
                self._flush(link, send, outgoing + self._chip_output())
                return True
        return False

    def _chip_output(self) -> bytes:
        """What goes to the host now: the chip's due output, as the link carries it."""
        return self.chip.read()

    def _host_input(self, data: bytes) -> None:
        """Bytes from the host, as the link carries them."""
        self.chip.receive(data)

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
        self._host_spoke = False

    def _host_input(self, data: bytes) -> None:
        self._host_spoke = True
        self._note_host_baud()
        super()._host_input(data)

    def _chip_output(self) -> bytes:
        if self._host_spoke:  # before that, the device's rate is nobody's choice yet
            self._note_host_baud()
        return super()._chip_output()

    def _note_host_baud(self) -> None:
        """Tell the chip the rate the host set on the device (where the system says it)."""
        settings = array.array("i", [0] * 64)
        try:
            fcntl.ioctl(self._master, TCGETS2, settings)
        except OSError:
            return  # not Linux: the rate stays unknown and is not checked
        self.chip.set_host_baud(settings[TERMIOS2_OUTPUT_SPEED] or None)

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

    SCHEME = "socket"
    OPTION = "--tcp"  # the command-line option choosing the port, for error messages

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
                f"choose another {self.OPTION} port"
            ) from None
        self._listener.listen(1)
        self.tcp_port = self._listener.getsockname()[1]
        self.port = f"{self.SCHEME}://127.0.0.1:{self.tcp_port}"

    def _run(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self._listener, self._wake_read], [], [], IDLE_WAIT)
            if self._listener not in readable:
                continue
            connection, _ = self._listener.accept()
            with connection:
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._serve_host(connection)
            self.chip.disconnected = False  # a new host finds the chip still there

    def _serve_host(self, connection: socket.socket) -> None:
        self._pump(connection.fileno(), connection.send, self._reader(connection))

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


class Rfc2217Server(TcpServer):
    """The chip behind a loopback RFC 2217 server: `rfc2217://127.0.0.1:PORT`, one host at a time.

    pyserial's PortManager decodes the telnet option negotiation and applies the host's DTR/RTS
    and baud rate to a virtual port on the chip, as esptool's esp_rfc2217_server does to a real
    serial port, so that reset sequences reset the chip. Each host starts with the lines released.
    """

    SCHEME = "rfc2217"
    OPTION = "--rfc2217"

    def __init__(self, chip: VirtualChip, tcp_port: int = 0) -> None:
        super().__init__(chip, tcp_port)
        self._session: _TelnetSession | None = None

    @property
    def host_baud(self) -> int | None:
        """The baud rate the connected host set (None while no host is connected)."""
        return None if self._session is None else self._session.line.baudrate

    def _serve_host(self, connection: socket.socket) -> None:
        self._session = _TelnetSession(self.chip)
        try:
            super()._serve_host(connection)
        finally:
            self._session.end()
            self._session = None

    def _chip_output(self) -> bytes:
        assert self._session is not None
        return self._session.to_host(self.chip.read())

    def _host_input(self, data: bytes) -> None:
        assert self._session is not None
        self._session.from_host(data)


class _TelnetSession:
    """One host's telnet/RFC 2217 state; PortManager writes its answers through `write`."""

    def __init__(self, chip: VirtualChip) -> None:
        self.chip = chip
        self.line = _RemoteLines.attached_to(chip)
        self.line.baudrate = chip.baud
        self._answers = bytearray()
        self._manager = PortManager(self.line, self)  # queues the opening option requests

    def write(self, data: bytes) -> None:
        self._answers += data

    def to_host(self, data: bytes) -> bytes:
        answers, self._answers = bytes(self._answers), bytearray()
        return answers + data.replace(IAC, IAC_DOUBLED)

    def from_host(self, data: bytes) -> None:
        # Data before a command reaches the chip before the command changes its lines: each
        # piece starting at an IAC is filtered (and acted on) only after the data before it.
        for piece in re.split(b"(?=\xff)", data):
            if self.chip.disconnected:
                return  # the server hangs up; what follows is not for this chip any more
            payload = b"".join(self._manager.filter(piece))
            if payload:
                self.chip.receive(payload)
        self._manager.check_modem_lines()  # DSR/CTS follow DTR/RTS: tell the host on change

    def end(self) -> None:
        """Release the lines as the host leaves; RTS first, so that EN never dips low."""
        self.line.rts = False
        self.line.dtr = False
        self.line.close()


class _RemoteLines(VirtualPort):
    """A virtual port whose DTR and RTS arrive over the network, one change at a time.

    A host leaves reset with GPIO0 low by asserting DTR, then releasing RTS. A USB-UART bridge
    switches them microseconds apart, well within EN's RC delay; over RFC 2217 they arrive tens of
    milliseconds apart, long enough for the chip to boot from flash in between. So DTR asserted
    while RTS holds EN low is applied as the whole pair (esp_rfc2217_server re-times it too).
    """

    _holding_reset = False

    def _update_lines(self) -> None:
        if self.chip is None:
            return
        dtr, rts = bool(self._dtr_state), bool(self._rts_state)
        if dtr and rts and self._holding_reset:
            rts = False  # the release of EN that is on its way
        self._holding_reset = rts and not dtr
        self.chip.set_lines(dtr, rts)


def serve(
    chip: str,
    flash_size: str = "4MB",
    flash_file: str | None = None,
    pty: bool = False,
    tcp_port: int | None = None,
    rfc2217_port: int | None = None,
    port_file: str | None = None,
    options: Mapping[str, str] | None = None,
    announce: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Serve a virtual chip over a PTY (the default), `tcp_port` or `rfc2217_port` until stopped.

    Announces the port to open (a device path, socket:// or rfc2217:// URL) and writes it to
    `port_file`.
    `options` are the virtual:// URL options (mac, revision, start, faults, link, ...). Returns
    when `stop` is set, on Ctrl-C or on SIGTERM; the flash file holds every write by then.
    """
    if sum((pty, tcp_port is not None, rfc2217_port is not None)) > 1:
        raise EspforgeError(
            "choose one of a PTY, a TCP port or an RFC 2217 port for the virtual chip"
        )
    settings = dict(options or {}) | {"flash_size": flash_size}
    if flash_file is not None:
        settings["flash"] = flash_file
    virtual = chip_from_options(chip, settings)
    server = _server_for(virtual, tcp_port, rfc2217_port)
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


def _server_for(chip: VirtualChip, tcp_port: int | None, rfc2217_port: int | None) -> ChipServer:
    if tcp_port is not None:
        return TcpServer(chip, tcp_port)
    if rfc2217_port is not None:
        return Rfc2217Server(chip, rfc2217_port)
    return PtyServer(chip)


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
