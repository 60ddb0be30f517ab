"""Serving the dashboard: check the output directory and the bind policy, bind the socket
ourselves (so a port in use is one line, not a uvicorn log), then run uvicorn on it."""

from __future__ import annotations

import errno
import socket
import threading
import time
from contextlib import contextmanager

from thresher.flows.dashboard import access
from thresher.flows.dashboard.store import Store
from thresher.scorers.errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT, not a listener
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"port {port} on {host} is in use: pass another --port, or stop what holds it"
            ) from None
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(out: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None):
    import uvicorn

    from thresher.flows.dashboard.app import create_app

    Store(out).check()
    access.check_bind(host, token)
    local = access.is_loopback(host)
    sock = bind(host, port)
    app = create_app(out, token=token, local_only=local)
    shown = f"[{host}]" if ":" in host else host
    print(f"Thresher dashboard on http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C stops it)")
    if token:
        print("every request needs the token: open the page once with ?token=YOUR_TOKEN")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def running(out: str, token: str | None = None, host: str = DEFAULT_HOST):
    """Serve the dashboard on a free port in a background thread for the block; yields its
    base URL (for tests, the benchmark and the screenshot script)."""
    import uvicorn

    from thresher.flows.dashboard.app import create_app

    Store(out).check()
    access.check_bind(host, token)
    sock = bind(host, 0)
    app = create_app(out, token=token, local_only=access.is_loopback(host))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if not thread.is_alive() or time.time() > deadline:
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
