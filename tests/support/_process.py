"""Subprocess plumbing shared by the producer harnesses: hermetic env, timing, a shared cache.

Every real producer (``airflow``, ``dbt``, ``dbt-ol``, ``sutura serve``) runs in a subprocess
so its configuration comes only from the env we hand it, never from the developer's shell.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

__all__ = [
    "CommandResult",
    "VENV_BIN",
    "cache_dir",
    "file_lock",
    "free_port",
    "hermetic_env",
    "run_command",
]

VENV_BIN = Path(sys.executable).parent

# Variables that would let the caller's shell leak configuration into a producer.
_LEAKY_PREFIXES = ("AIRFLOW__", "AIRFLOW_", "OPENLINEAGE", "DBT_", "SUTURA_", "DAGSTER_")
_KEEP = {"SUTURA_TEST_PG_URL", "SUTURA_REQUIRE_PG", "SUTURA_TEST_CACHE"}


def cache_dir() -> Path:
    """A directory that outlives one pytest run (migrated Airflow DB, bytecode cache).

    ``SUTURA_TEST_CACHE`` overrides it; by default it is per user under the system temp dir.
    """
    root = os.environ.get("SUTURA_TEST_CACHE") or os.path.join(
        tempfile.gettempdir(), f"sutura-test-cache-{os.getuid()}"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process on this machine (pytest-xdist workers too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def hermetic_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current env minus producer configuration, plus the venv on PATH and a bytecode cache.

    Producers import thousands of modules; with ``PYTHONDONTWRITEBYTECODE`` set (as in many CI
    images) each subprocess recompiles them all (about 6 s for Airflow). A shared
    ``PYTHONPYCACHEPREFIX`` keeps the compiled files outside the venv and reuses them.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key in _KEEP or not key.startswith(_LEAKY_PREFIXES)
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache_dir() / "pycache")
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env.setdefault("NO_COLOR", "1")
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class CommandResult:
    """What a producer subprocess did: exit code, output and wall time in seconds."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float

    def check(self, *, returncode: int = 0) -> "CommandResult":
        """Return self if the exit code is as expected, else fail with the output's tail."""
        if self.returncode != returncode:
            raise AssertionError(
                f"{' '.join(self.args)} exited {self.returncode} (expected {returncode}) "
                f"after {self.duration:.1f}s\n--- stdout (tail) ---\n{self.stdout[-4000:]}"
                f"\n--- stderr (tail) ---\n{self.stderr[-4000:]}"
            )
        return self


def run_command(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | str | None = None,
    timeout: float = 300,
) -> CommandResult:
    """Run one command to completion and capture everything it printed."""
    started = time.monotonic()
    proc = subprocess.run(
        list(args),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CommandResult(
        args=tuple(str(a) for a in args),
        returncode=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        duration=time.monotonic() - started,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
