"""``SuturaResource``: where Dagster finds the Sutura engine, and how it degrades.

Every Sutura part of the Dagster integration talks to the engine through
:func:`engine_call`, which never raises: when the engine is down, hung or confused it logs
ONE warning (per engine and process), skips the engine for ``_COOLDOWN`` seconds so a
run of many assets does not wait on a dead server again and again, and returns
:data:`UNAVAILABLE`; the caller then does what plain Dagster would do.

How a Sutura part finds its engine (:func:`resource_engine`), first match wins:

1. the resource under ``resource_key`` (default ``sutura``) when the op requires it;
2. else the resource bound under that key in the ``Definitions`` (or passed to
   ``materialize(resources=...)``), built on first use, so adding Sutura to an asset does
   not add a required resource key to it;
3. else ``SuturaResource()``: a remote engine at ``SUTURA_URL``, else the embedded one
   at ``SUTURA_DB_URL``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from dagster import ConfigurableResource
from pydantic import Field, field_validator, model_validator

from sutura import EngineAPI

__all__ = ["UNAVAILABLE", "SuturaResource", "engine_call", "resource_engine"]

log = logging.getLogger("sutura_dagster")

UNAVAILABLE: Any = type("Unavailable", (), {"__repr__": lambda self: "UNAVAILABLE", "__bool__": lambda self: False})()
"""What :func:`engine_call` returns when the engine could not answer."""

_COOLDOWN = 30.0  # seconds an engine that failed is skipped before it is tried again


class SuturaResource(ConfigurableResource):
    """The Sutura engine a Dagster deployment talks to.

    Set ``url`` for a remote ``sutura serve``, or ``db_url`` for an embedded engine on a
    store this process can open; with neither, ``SUTURA_URL`` / ``SUTURA_DB_URL`` (and
    ``sutura.yml``) decide, exactly as ``sutura.connect()`` does. A complete example::

        from dagster import Definitions, EnvVar, FilesystemIOManager, RetryPolicy
        from sutura_dagster import SuturaIOManager, SuturaResource, sutura_asset

        @sutura_asset(retry_policy=RetryPolicy(max_retries=3))
        def orders():
            return fetch_orders()          # a TimeoutError is retried, a KeyError is not

        defs = Definitions(
            assets=[orders],
            resources={
                "sutura": SuturaResource(url=EnvVar("SUTURA_URL"), token=EnvVar("SUTURA_TOKEN")),
                "io_manager": SuturaIOManager(io_manager=FilesystemIOManager(base_dir="data")),
            },
        )

    Sutura never fails a run because it is unreachable: every asset then behaves as a
    plain Dagster asset (its own ``RetryPolicy``), and one warning says so.
    """

    url: str | None = Field(default=None, description="Base URL of `sutura serve`, e.g. http://sutura:5000.")
    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an embedded engine's store, e.g. sqlite:////abs/sutura.db.",
    )
    token: str | None = Field(default=None, description="Bearer token for a remote engine.")
    timeout: float = Field(default=5.0, description="Seconds to wait for a remote engine before falling back.")
    disabled: bool | None = Field(
        default=None, description="Turn Sutura into a no-op (default: SUTURA_DISABLED)."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")) and not _is_env_var(value):
            raise ValueError(
                f"url must be the http(s) base URL of `sutura serve`, e.g. 'http://127.0.0.1:5000', got {value!r}; "
                "for an embedded engine set db_url instead"
            )
        return value

    @field_validator("db_url")
    @classmethod
    def _check_db_url(cls, value: str | None) -> str | None:
        if not value or _is_env_var(value):
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(value)
        except ArgumentError:
            raise ValueError(
                f"db_url must be a SQLAlchemy URL such as 'sqlite:////abs/path/sutura.db' or "
                f"'postgresql+psycopg://user@host:5432/db', got {value!r}"
            ) from None
        database = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not database.startswith("/"):
            raise ValueError(
                f"db_url {value!r} is a relative SQLite path, which resolves against whatever directory each "
                f"Dagster process starts in; use an absolute one: 'sqlite:////abs/path/{database.split('/')[-1]}'"
            )
        return value

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_engine(self) -> SuturaResource:
        if self.url and self.db_url:
            raise ValueError(
                "set either url (a remote `sutura serve`) or db_url (an embedded store), not both"
            )
        return self

    # ------------------------------------------------------------------ engine

    @property
    def is_disabled(self) -> bool:
        """Whether Sutura is switched off (the field, else ``SUTURA_DISABLED``)."""
        if self.disabled is not None:
            return bool(self.disabled)
        try:
            import sutura

            return bool(sutura.resolve().disabled)
        except Exception:  # noqa: BLE001 - a broken config must not fail the run
            return False

    def get_engine(self) -> EngineAPI:
        """The engine these settings name (shared by every caller in this process)."""
        return _engine_for(self._engine_key())

    def _engine_key(self) -> tuple[Any, ...]:
        if self.url:
            return ("remote", self.url, self.token, self.timeout)
        if self.db_url:
            return ("embedded", self.db_url)
        import sutura

        settings = sutura.resolve(token=self.token)
        if settings.url:
            return ("remote", settings.url, settings.token, self.timeout if "timeout" in self.model_fields_set else settings.timeout)
        return ("embedded", settings.db_url)



def _engine_for(key: tuple[Any, ...]) -> EngineAPI:
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            import sutura

            kind, *rest = key
            if kind == "remote":
                url, token, timeout = rest
                engine = sutura.RemoteEngine(url, token=token, timeout=timeout)
            else:
                engine = sutura.Engine(db_url=rest[0])
            _ENGINES[key] = engine
        return engine


def _is_env_var(value: str) -> bool:
    from dagster import EnvVar

    return isinstance(value, EnvVar)


# ---------------------------------------------------------------------- finding the engine

_LOCK = threading.RLock()
_ENGINES: dict[tuple[Any, ...], EngineAPI] = {}
_BUILT: dict[int, tuple[Any, SuturaResource]] = {}  # id(resource definition) -> (definition, resource)
_STATE: dict[tuple[Any, ...], dict[str, Any]] = {}  # engine key -> {"warned": bool, "down_until": float}


def resource_engine(context: Any = None, resource_key: str = "sutura") -> SuturaResource:
    """The ``SuturaResource`` for an op, asset, sensor or IO manager context (see module doc)."""
    if context is not None:
        found = _from_context(context, resource_key)
        if found is not None:
            return found
    return _default_resource()


def _from_context(context: Any, resource_key: str) -> SuturaResource | None:
    resources = _safe(lambda: context.resources)
    value = _safe(lambda: getattr(resources, resource_key)) if resources is not None else None
    if isinstance(value, SuturaResource):
        return value
    definition = _safe(lambda: context.job_def.resource_defs.get(resource_key))
    if definition is None:  # a sensor: the Definitions' resources
        definition = _safe(lambda: context.repository_def.get_top_level_resources().get(resource_key))
    if isinstance(definition, SuturaResource):
        return definition
    if definition is None:
        return None
    with _LOCK:
        built = _BUILT.get(id(definition))
        if built is not None and built[0] is definition:
            return built[1]
    resource = _build(definition, resource_key)
    if resource is not None:
        with _LOCK:
            _BUILT[id(definition)] = (definition, resource)
    return resource


def _build(definition: Any, resource_key: str) -> SuturaResource | None:
    from dagster import build_resources

    try:
        with build_resources({resource_key: definition}) as built:
            resource = getattr(built, resource_key)
    except Exception as exc:  # noqa: BLE001 - a misconfigured resource falls back to the default
        log.warning("Sutura: could not build resource %r (%s: %s); using SUTURA_URL/SUTURA_DB_URL", resource_key, type(exc).__name__, exc)
        return None
    return resource if isinstance(resource, SuturaResource) else None


_DEFAULT: list[SuturaResource] = []


def _default_resource() -> SuturaResource:
    if not _DEFAULT:
        _DEFAULT.append(SuturaResource())
    return _DEFAULT[0]


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - contexts differ in what they offer; absence is fine
        return None


# ---------------------------------------------------------------------- calling it


def engine_call(resource: SuturaResource, method: str, *args: Any, context_log: Any = None, **kwargs: Any) -> Any:
    """``engine.<method>(*args, **kwargs)``, or :data:`UNAVAILABLE` when Sutura cannot answer.

    ``NotFound`` is an answer, not an outage: it is raised to the caller.
    """
    from sutura import NotFound

    try:
        disabled, key = _settings_of(resource)
    except Exception as exc:  # noqa: BLE001 - an unreadable config is an outage of Sutura, not of the run
        _warn(("config",), context_log, f"Sutura: cannot read its configuration ({type(exc).__name__}: {exc})")
        return UNAVAILABLE
    if disabled:
        return UNAVAILABLE
    state = _STATE.setdefault(key, {"warned": False, "down_until": 0.0})
    if state["down_until"] > time.monotonic():
        return UNAVAILABLE
    try:
        result = getattr(_engine_for(key), method)(*args, **kwargs)
    except NotFound:
        raise
    except Exception as exc:  # noqa: BLE001 - Sutura never fails the host run
        state["down_until"] = time.monotonic() + _COOLDOWN
        where = key[1] if len(key) > 1 else key
        _warn(
            key,
            context_log,
            f"Sutura engine at {where} is unavailable ({type(exc).__name__}: {str(exc)[:300]}); "
            "falling back to plain Dagster behaviour (declared RetryPolicy, latest stored values)",
        )
        return UNAVAILABLE
    state["warned"] = False  # a later outage deserves its own warning
    return result


_SETTINGS: dict[tuple[Any, ...], tuple[bool, tuple[Any, ...], SuturaResource]] = {}


def _settings_of(resource: SuturaResource) -> tuple[bool, tuple[Any, ...]]:
    """(disabled, engine key), resolved once per resource, environment and directory."""
    import os

    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("SUTURA")))
    cache_key = (id(resource), env, os.getcwd())
    found = _SETTINGS.get(cache_key)
    if found is None or found[2] is not resource:
        found = (resource.is_disabled, resource._engine_key(), resource)
        if len(_SETTINGS) > 256:
            _SETTINGS.clear()
        _SETTINGS[cache_key] = found
    return found[0], found[1]


def _warn(key: tuple[Any, ...], context_log: Any, message: str) -> None:
    state = _STATE.setdefault(key, {"warned": False, "down_until": 0.0})
    if state["warned"]:
        log.debug(message)
        return
    state["warned"] = True
    (context_log or log).warning(message)


def reset_state() -> None:
    """Forget engines, built resources and outage memory (tests; after changing the environment)."""
    with _LOCK:
        for engine in _ENGINES.values():
            close = getattr(engine, "close", None)
            if close is not None:
                _safe(close)
        _ENGINES.clear()
        _BUILT.clear()
        _STATE.clear()
        _DEFAULT.clear()
        _SETTINGS.clear()
