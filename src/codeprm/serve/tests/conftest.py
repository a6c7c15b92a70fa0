import socket
import threading
import time

import pytest

from codeprm.sandbox import Sandbox
from codeprm.serve import runcode
from codeprm.serve.config import ServeConfig


@pytest.fixture(scope="session")
def serve_sandbox():
    with Sandbox(workers=2, wall_time_factor=2.0, wall_time_extra_s=0.5, **runcode.sandbox_options()) as sandbox:
        yield sandbox


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Live:
    """A real uvicorn server in a thread (clients that speak HTTP themselves need one)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            assert time.time() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def live(serve_sandbox):
    from codeprm.serve.app import create_app

    with Live(create_app(ServeConfig(workers=2, queue=64), sandbox=serve_sandbox)) as server:
        yield server


@pytest.fixture(scope="module")
def live_numpy():
    """A server whose sandbox binds numpy, as `codeprm serve` does by default when numpy is installed."""
    from codeprm.serve.app import create_app

    with Sandbox(workers=1, packages=runcode.default_packages(None), **runcode.sandbox_options()) as sandbox:
        with Live(create_app(ServeConfig(workers=1, queue=8), sandbox=sandbox)) as server:
            yield server
