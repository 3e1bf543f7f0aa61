"""``SuturaHook``: an engine from an Airflow connection; ``sql_url``: a SQLAlchemy URL from one.

Connection type ``sutura``: host (+ port, schema ``https`` for TLS) → a remote ``sutura serve``,
password → its token; or extra ``{"db_url": "sqlite:////abs/sutura.db"}`` → an embedded engine.
"""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk.bases.hook import BaseHook
except ImportError:  # Airflow 2
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

__all__ = ["SuturaHook", "sql_url"]

# Airflow connection types whose URI SQLAlchemy needs spelled differently.
_DRIVERS = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


def sql_url(*, url: str | None = None, conn_id: str | None = None) -> str:
    """``url`` as given, else the SQLAlchemy URL of Airflow connection ``conn_id``.

    ``duckdb``/``sqlite`` connections name the database file in ``host`` (or extra ``path``).
    """
    if url:
        return url
    if not conn_id:
        raise ValueError("give either url= (a SQLAlchemy URL) or conn_id= (an Airflow connection)")
    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    kind = (conn.conn_type or "").lower()
    if kind in ("duckdb", "sqlite"):
        return f"{kind}:///{extra.get('path') or conn.host or conn.schema}"
    import sqlalchemy as sa

    return sa.URL.create(
        _DRIVERS.get(kind, kind),
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    ).render_as_string(hide_password=False)


class SuturaHook(BaseHook):
    """Yields the Sutura engine an Airflow connection describes (``get_engine()``)."""

    conn_name_attr = "sutura_conn_id"
    default_conn_name = "sutura_default"
    conn_type = "sutura"
    hook_name = "Sutura"

    def __init__(self, sutura_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sutura_conn_id = sutura_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden-fields": ["login"],
            "relabeling": {"password": "Token", "schema": "Scheme (http/https)"},
            "placeholders": {"host": "sutura.internal", "port": "5000", "extra": '{"db_url": "sqlite:////var/lib/sutura/sutura.db", "timeout": 5}'},
        }

    def get_engine(self) -> Any:
        """A ``RemoteEngine`` when the connection has a host, else an embedded ``Engine``."""
        import sutura

        conn = self.get_connection(self.sutura_conn_id)
        extra = conn.extra_dejson or {}
        timeout = float(extra.get("timeout", 5.0))
        if conn.host:
            scheme = conn.schema if conn.schema in ("http", "https") else "http"
            host = conn.host if "://" not in conn.host else conn.host.split("://", 1)[1]
            url = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
            return sutura.RemoteEngine(url, token=conn.password or None, timeout=timeout)
        return sutura.Engine(db_url=extra.get("db_url"))

    def get_conn(self) -> Any:
        return self.get_engine()

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.get_engine().decisions(limit=1)
        except Exception as exc:  # noqa: BLE001 - reported to the UI, not raised
            return False, f"{type(exc).__name__}: {exc}"
        return True, "Sutura answered"
