"""The one way this provider reaches the engine: configured once, guarded always.

Every call into Sutura from Airflow goes through ``call_engine``: it returns the engine's
answer, or ``None`` after logging ONE warning per process and kind of problem, so a task
never fails or stalls because Sutura is down, slow or confused (see
docs/adr/0005-plugins-never-fail-the-host.md). A remote engine is bounded by ``timeout``.

Configuration, first match wins per key: the ``[sutura]`` section of the Airflow config
(``AIRFLOW__SUTURA__URL``...), then Sutura's own resolver (``SUTURA_URL``, ``SUTURA_DB_URL``,
``sutura.yml``, ``SUTURA__*``).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Callable, TypeVar

__all__ = ["call_engine", "engine_settings", "get_engine", "reset_engine", "warn_once"]

log = logging.getLogger("sutura.airflow")
T = TypeVar("T")

_KEYS = ("url", "db_url", "token", "timeout")
_lock = threading.Lock()
_engine: Any = None
_engine_pid: int | None = None
_warned: set[str] = set()


def _airflow_option(key: str) -> str | None:
    try:
        from airflow.configuration import conf

        value = conf.get("sutura", key, fallback=None)
    except Exception:  # noqa: BLE001 - no Airflow config (older/stripped installs): use Sutura's own
        return None
    return value or None


def engine_settings() -> dict[str, Any]:
    """Overrides from the Airflow ``[sutura]`` section (only keys that are set)."""
    out: dict[str, Any] = {}
    for key in _KEYS:
        value = _airflow_option(key)
        if value is not None:
            out[key] = float(value) if key == "timeout" else value
    return out


def disabled() -> bool:
    """``SUTURA_DISABLED`` / ``disabled: true``: every plugin is a no-op."""
    try:
        import sutura

        return bool(sutura.resolve().disabled)
    except Exception:  # noqa: BLE001 - a broken config must not fail the task either
        return os.environ.get("SUTURA_DISABLED", "").strip().lower() in ("1", "true", "yes", "on")


def get_engine() -> Any:
    """The process's engine (remote or embedded), created on first use; new after a fork."""
    global _engine, _engine_pid
    with _lock:
        if _engine is None or _engine_pid != os.getpid():
            import sutura

            _engine = sutura.connect(**engine_settings())
            _engine_pid = os.getpid()
        return _engine


def reset_engine() -> None:
    """Forget the cached engine (tests, or after the configuration changed)."""
    global _engine, _engine_pid
    with _lock:
        if _engine is not None and _engine_pid == os.getpid():
            try:
                _engine.close()
            except Exception:  # noqa: BLE001
                pass
        _engine, _engine_pid = None, None
        _warned.clear()


def warn_once(key: str, message: str, *args: Any, logger: logging.Logger | None = None) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process."""
    if key in _warned:
        return
    _warned.add(key)
    (logger or log).warning(message, *args)


def call_engine(what: str, fn: Callable[[Any], T], *, logger: logging.Logger | None = None) -> T | None:
    """``fn(engine)``, or ``None`` (one warning) if Sutura is disabled, down or raised.

    ``what`` names the call in the warning ("asking the retry decision", ...).
    """
    if disabled():
        return None
    try:
        return fn(get_engine())
    except Exception as exc:  # noqa: BLE001 - the host task must never fail because of Sutura
        warn_once(
            f"engine:{type(exc).__name__}",
            "Sutura unavailable while %s (%s: %s); falling back to Airflow's native behaviour",
            what,
            type(exc).__name__,
            exc,
            logger=logger,
        )
        return None
