"""Start a real ``sutura serve`` on a free port for the duration of a test.

Producers point their OpenLineage HTTP transport at ``server.url``; tests read the graph back
through the same HTTP API (``GET /api/v1/lineage``, ``/api/v1/runs/{runId}``).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

from tests.support._process import VENV_BIN, free_port, hermetic_env

__all__ = ["SuturaServer", "running_sutura_server"]


@dataclass(frozen=True)
class SuturaServer:
    url: str  # http://127.0.0.1:<port>
    db_url: str  # the store it serves (SUTURA_DB_URL)
    log_path: Path  # its stdout and stderr

    def client(self, timeout: float = 10) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def running_sutura_server(workdir: Path, *, db_url: str | None = None, startup_timeout: float = 60) -> Iterator[SuturaServer]:
    """Run ``sutura serve --host 127.0.0.1 --port N`` until the block exits; wait for ``/healthz``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{workdir / 'sutura.db'}"
    port = free_port()
    log_path = workdir / "sutura-serve.log"
    argv = [str(VENV_BIN / "sutura"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = SuturaServer(url=f"http://127.0.0.1:{port}", db_url=db_url, log_path=log_path)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, env=hermetic_env({"SUTURA_DB_URL": db_url}), cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(server, proc, startup_timeout)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_healthy(server: SuturaServer, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sutura serve exited with {proc.returncode}:\n{server.log()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"sutura serve not healthy after {timeout}s:\n{server.log()[-4000:]}")
