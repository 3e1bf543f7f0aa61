"""The one place configuration is resolved.

Precedence, first match wins for each setting:

1. keyword arguments passed to ``resolve()`` / ``Engine.from_config(**kwargs)``;
2. the YAML file named by ``SUTURA_CONFIG``, else ``./sutura.yml`` if it exists;
3. environment variables ``SUTURA__SECTION__KEY`` (e.g. ``SUTURA__RETRY__MAX_DELAY=600``),
   plus the short forms ``SUTURA_DB_URL``, ``SUTURA_URL``, ``SUTURA_TOKEN``;
4. the defaults below.

``SUTURA_DISABLED=true`` (or ``disabled: true``) turns every plugin into a no-op.
Every setting is listed in ``SETTINGS`` with its type and meaning; an unknown key in the
file or environment is an error that names it, so a typo never silently does nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from sutura.errors import ConfigError

__all__ = ["SETTINGS", "Settings", "resolve"]

DEFAULT_DB_URL = "sqlite:///.sutura/sutura.db"

# name -> (type, default, meaning). Dotted names are sections: "retry.max_delay".
SETTINGS: dict[str, tuple[type, Any, str]] = {
    "disabled": (bool, False, "turn every Sutura plugin into a no-op"),
    "db_url": (str, DEFAULT_DB_URL, "SQLAlchemy URL of the graph store (SQLite file or PostgreSQL)"),
    "url": (str, None, "base URL of a remote `sutura serve`; when set, clients talk HTTP instead of opening the store"),
    "token": (str, None, "bearer token clients send to a remote engine"),
    "timeout": (float, 5.0, "seconds a plugin waits for a remote engine before falling back"),
    "server.host": (str, "127.0.0.1", "address `sutura serve` binds"),
    "server.port": (int, 5000, "port `sutura serve` binds"),
    "server.workers": (int, 1, "uvicorn worker processes"),
    "server.tokens": (dict, None, "token -> list of scopes (ingest, decide, read, admin); none configured = no auth"),
    "server.max_body_bytes": (int, 16 * 1024 * 1024, "largest request body accepted"),
    "server.max_depth": (int, 64, "deepest JSON nesting accepted in an event"),
    "server.allow_public_without_auth": (bool, False, "allow binding beyond loopback with no tokens"),
    "server.metrics_dir": (str, None, "directory where each server worker writes its metric counts so GET /metrics sums all workers (`sutura serve` uses a fresh temporary one when unset)"),
    "retry.base_delay": (float, 5.0, "seconds: first backoff step"),
    "retry.max_delay": (float, 300.0, "seconds: backoff cap"),
    "retry.budget": (int, 10, "retries a job may spend per window"),
    "retry.budget_window": (float, 3600.0, "seconds: the retry budget's window"),
    "retry.breaker_threshold": (int, 3, "transient failures on one data source that open its circuit"),
    "retry.breaker_window": (float, 600.0, "seconds: failures older than this do not count towards opening"),
    "retry.breaker_cooldown": (float, 60.0, "seconds an open circuit waits before letting one probe through"),
    "retry.history_min": (int, 3, "times a signature must fail after retries before it is called deterministic"),
    "quarantine.require_checks": (bool, False, "quarantine versions that arrive with no check results"),
    "baseline.min_history": (int, 5, "published versions needed before baselines flag anomalies"),
    "baseline.z_threshold": (float, 4.0, "z-score beyond which a metric is anomalous"),
    "retention.events_days": (float, None, "prune raw events older than this many days (None keeps all)"),
    "retention.runs_per_job": (int, None, "keep at most this many runs per job (None keeps all)"),
    "retention.batch_size": (int, 500, "rows deleted per transaction by `sutura prune` (small, so ingest is never blocked long)"),
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; read with ``settings.get("retry.max_delay")`` or attribute for top level."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        if name not in SETTINGS:
            raise ConfigError(f"unknown setting {name!r}")
        return self.values.get(name, SETTINGS[name][1])

    def __getattr__(self, name: str) -> Any:
        if name in SETTINGS:
            return self.get(name)
        raise AttributeError(name)

    def replace(self, **overrides: Any) -> Settings:
        merged = dict(self.values)
        merged.update(_flatten(overrides, "arguments"))
        return Settings(merged)


def resolve(config_file: str | Path | None = None, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Resolve settings from arguments, the YAML file and the environment (see module doc)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    values.update(_from_env(env))
    values.update(_from_file(config_file, env))
    values.update(_flatten({k: v for k, v in overrides.items() if v is not None}, "arguments"))
    return Settings(values)


def _flatten(tree: Mapping[str, Any], origin: str, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if name not in SETTINGS and isinstance(value, Mapping):
            out.update(_flatten(value, origin, f"{name}."))
            continue
        out[name] = _coerce(name, value, origin)
    return out


def _coerce(name: str, value: Any, origin: str) -> Any:
    if name not in SETTINGS:
        known = ", ".join(sorted(SETTINGS))
        raise ConfigError(f"unknown setting {name!r} in {origin}; known settings: {known}")
    kind = SETTINGS[name][0]
    if value is None or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if kind is dict and isinstance(value, str):
            parsed = yaml.safe_load(value)
            if not isinstance(parsed, dict):
                raise ValueError(value)
            return parsed
        if kind in (int, float) and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return kind(value)
        if kind is str and isinstance(value, (int, float)):
            return str(value)
    except ValueError:
        pass
    raise ConfigError(f"setting {name!r} in {origin} must be {kind.__name__}, got {value!r}")


def _from_file(config_file: str | Path | None, env: Mapping[str, str]) -> dict[str, Any]:
    path = Path(config_file) if config_file else None
    if path is None and env.get("SUTURA_CONFIG"):
        path = Path(env["SUTURA_CONFIG"])
        if not path.exists():
            raise ConfigError(f"SUTURA_CONFIG points at {path}, which does not exist")
    if path is None:
        default = Path("sutura.yml")
        path = default if default.exists() else None
    if path is None:
        return {}
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(tree, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    return _flatten(tree, str(path))


_SHORT_ENV = {"SUTURA_DB_URL": "db_url", "SUTURA_URL": "url", "SUTURA_TOKEN": "token", "SUTURA_DISABLED": "disabled"}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, name in _SHORT_ENV.items():
        if env.get(var):
            out[name] = _coerce(name, env[var], f"environment variable {var}")
    for var, value in env.items():
        if not var.startswith("SUTURA__"):
            continue
        name = ".".join(part.lower() for part in var[len("SUTURA__"):].split("__"))
        out[name] = _coerce(name, value, f"environment variable {var}")
    return out
