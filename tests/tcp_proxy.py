"""A small threaded TCP proxy on 127.0.0.1 that cuts its FIRST connection after N bytes went server -> client.

    with CuttingProxy("127.0.0.1", dovecot.plain_port, cut_after=32_000) as proxy:
        IMAPClient("127.0.0.1", port=proxy.port, ...)   # dies once 32,000 bytes reached it
        IMAPClient("127.0.0.1", port=proxy.port, ...)   # passes through untouched
    assert proxy.cuts == 1 and proxy.connections == 2

The cut closes both sockets abruptly: with reset=True (the default) SO_LINGER 0 makes each close send a TCP RST,
as a dropped link or a killed middlebox would (the client's recv fails with ConnectionResetError, or sees EOF if
it had already read everything); reset=False closes with a FIN, so the client reads exactly `cut_after` bytes and
then EOF. Exactly `cut_after` bytes are forwarded to the client before the cut (0: cut at the server's first byte).
Each connection is served by one thread that select()s both sockets, so the cut never races a blocked recv.
"""
from __future__ import annotations

import fcntl
import select
import socket
import struct
import termios
import threading
import time

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_CHUNK = 64 * 1024


class CuttingProxy:
    def __init__(self, target_host: str, target_port: int, cut_after: int, *, reset: bool = True,
                 connect_timeout: float = 5.0):
        if target_host not in LOOPBACK:
            raise ValueError(f"CuttingProxy only forwards to loopback, not {target_host!r}")
        if cut_after < 0:
            raise ValueError("cut_after must be >= 0")
        self.target = (target_host, target_port)
        self.cut_after = cut_after
        self.reset = reset
        self.connect_timeout = connect_timeout
        self.host = "127.0.0.1"
        self.port: int = 0
        self.connections = 0       # accepted client connections
        self.cuts = 0              # connections cut
        self.bytes_to_client = 0   # server -> client bytes forwarded, all connections
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def __enter__(self) -> CuttingProxy:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop, "proxy-accept")

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            socks = list(self._sockets)
        for s in socks:  # wakes a thread blocked in sendall to a client that stopped reading
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        for s in socks:
            s.close()
        if alive:
            raise RuntimeError(f"CuttingProxy threads still running after {timeout} s: {alive}")

    def _spawn(self, target, name: str, *args) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    # -- work ------------------------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # listener closed
            with self._lock:
                self.connections += 1
                number = self.connections
                self._sockets.add(client)
            self._spawn(self._serve, f"proxy-conn-{number}", client, number == 1)

    def _serve(self, client: socket.socket, cut_this: bool) -> None:
        try:
            server = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError:
            self._discard(client, abrupt=True)
            return
        with self._lock:
            self._sockets.add(server)
        client.settimeout(30)
        server.settimeout(30)
        forwarded = 0  # server -> client on this connection
        try:
            if cut_this and self.cut_after == 0:
                # nothing may reach the client: cut as soon as the server says anything
                select.select([server], [], [], 30)
                self._cut(client, server)
                return
            while not self._stop.is_set():
                readable, _, _ = select.select([client, server], [], [], 0.1)
                for sock in readable:
                    data = sock.recv(_CHUNK)
                    if not data:  # one side closed: close the other (IMAP never half-closes)
                        return
                    if sock is client:
                        server.sendall(data)
                        continue
                    if cut_this and forwarded + len(data) >= self.cut_after:
                        part = data[: self.cut_after - forwarded]
                        client.sendall(part)
                        self._count(len(part))
                        self._cut(client, server)
                        return
                    client.sendall(data)
                    forwarded += len(data)
                    self._count(len(data))
        except (OSError, ValueError):
            return  # a peer reset, or close() shut the sockets down
        finally:
            self._discard(client)
            self._discard(server)

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_to_client += n

    def _cut(self, client: socket.socket, server: socket.socket) -> None:
        with self._lock:
            self.cuts += 1
        if self.reset:
            self._drain(client)
        self._discard(client, abrupt=self.reset)
        self._discard(server, abrupt=self.reset)

    def _drain(self, sock: socket.socket, timeout: float = 2.0) -> None:
        """Wait (bounded) until the kernel has delivered what we sent: an RST drops unsent bytes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                unsent = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            except OSError:
                return
            if unsent == 0:
                return
            time.sleep(0.005)

    def _discard(self, sock: socket.socket, abrupt: bool = False) -> None:
        with self._lock:
            if sock not in self._sockets:
                return
            self._sockets.discard(sock)
        try:
            if abrupt:  # linger 0: close sends RST and drops unsent data
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()
