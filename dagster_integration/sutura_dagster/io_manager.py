"""``SuturaIOManager``: any IO manager, plus versions by fingerprint and reads of the last good one.

On output it stores the value twice through the wrapped IO manager: where that IO
manager always puts it (so plain readers and the fallback path behave exactly as before)
and under ``__sutura_versions__/<asset key>/<content fingerprint>``, so every version
stays loadable. A value no ``@sutura_asset`` check audited is published to the engine
as is (``engine.on_checks`` with no checks, after it is stored): its content version
feeds the change sensor and reaches other tools' lineage. A value the checks audited was
decided with ``defer_publish=True``: once both copies are stored the IO manager reports
``published`` (``failed_write`` if storing raised), and only then does the engine
announce it.

On input it asks the engine for the dataset's last published version
(``engine.last_published``) and loads that version: while a newer one is quarantined,
downstream keeps reading the last good value, the step log says how stale it is, and
the input's metadata records ``sutura/version``, ``sutura/stale_seconds`` and the
quarantined versions (only then: a fresh value needs no note). After a release, the released version is what loads.

Falls back to the wrapped IO manager's own behaviour (the latest stored value) when the
engine is unreachable, knows nothing of the dataset, or the published version was not
stored by this IO manager. Partitioned assets are passed through unchanged (the engine
versions whole datasets, not partitions).
"""


import copy
import importlib
from contextlib import contextmanager
from typing import Any, Iterator

from dagster import ConfigurableIOManager, IOManager, ResourceDependency
from pydantic import Field

from sutura_dagster.resource import UNAVAILABLE, SuturaResource, engine_call, resource_engine

__all__ = ["VERSIONS_PREFIX", "SuturaIOManager"]

VERSIONS_PREFIX = "__sutura_versions__"


class SuturaIOManager(ConfigurableIOManager):
    """Wraps ``io_manager``; serves the last published version of each asset.

    A complete example::

        from dagster import Definitions, FilesystemIOManager
        from sutura_dagster import SuturaIOManager, SuturaResource

        defs = Definitions(
            assets=[orders, revenue],
            resources={
                "sutura": SuturaResource(db_url="sqlite:////var/lib/sutura/sutura.db"),
                "io_manager": SuturaIOManager(
                    io_manager=FilesystemIOManager(base_dir="/data"),
                    sutura=SuturaResource(db_url="sqlite:////var/lib/sutura/sutura.db"),
                ),
            },
        )

    Args:
        io_manager: the IO manager that really stores values (filesystem, S3, an in-house one).
        sutura: the engine; default: the ``sutura`` resource of the run, else
            ``SUTURA_URL`` / ``SUTURA_DB_URL``.
        publish_unaudited: publish values no Sutura check audited (default true).
        translator: ``"package.module:attribute"`` of the ``SuturaDagsterTranslator`` the
            assets use, when it is not the default one.
    """

    io_manager: ResourceDependency[IOManager]
    sutura: SuturaResource | None = None
    publish_unaudited: bool = Field(default=True, description="Publish values no Sutura check audited.")
    translator: str | None = Field(
        default=None, description="'module:attribute' of a SuturaDagsterTranslator (default names otherwise)."
    )

    # ------------------------------------------------------------------ output

    def handle_output(self, context: Any, obj: Any) -> None:
        from sutura_dagster.audit import take_audited

        inner = self.io_manager
        known = take_audited(context.run_id, context.step_key, context.asset_key.to_user_string()) if context.has_asset_key else None
        if obj is None or not context.has_asset_key or context.has_asset_partitions:
            with _reporting(known):
                inner.handle_output(context, obj)
            return
        from sutura_dagster.content import content_fingerprint, row_count

        key = context.asset_key
        fingerprint = known.fingerprint if known else content_fingerprint(obj)
        with _reporting(known):
            inner.handle_output(_versioned(context, fingerprint), obj)
            inner.handle_output(context, obj)
        if known is not None and known.audited:
            return  # audited: the checks already decided (a deferred PUBLISH is reported above)
        metadata: dict[str, Any] = {"sutura/fingerprint": fingerprint}
        if self.publish_unaudited:
            dataset = self._dataset(key, context.definition_metadata)
            decision = engine_call(
                self._resource(context),
                "on_checks",
                dataset,
                [],
                run_id=_run_id(context),
                fingerprint=fingerprint,
                row_count=row_count(obj),
                context_log=context.log,
            )
            if decision is not UNAVAILABLE:
                metadata["sutura/version"] = decision.subject
                metadata["sutura/decision"] = decision.action.value
        context.add_output_metadata(metadata)

    # ------------------------------------------------------------------ input

    def load_input(self, context: Any) -> Any:
        from sutura import NotFound

        inner = self.io_manager
        if not context.has_asset_key or context.has_asset_partitions:
            return inner.load_input(context)
        key = context.asset_key
        upstream = context.upstream_output
        dataset = self._dataset(key, upstream.definition_metadata if upstream is not None else {})
        try:
            staleness = engine_call(self._resource(context), "last_published", dataset, context_log=context.log)
        except NotFound:
            staleness = UNAVAILABLE  # the engine has never heard of it: plain behaviour
        if staleness is UNAVAILABLE:
            return inner.load_input(context)
        if staleness.version is None:
            if staleness.quarantined:
                from dagster import Failure

                held = staleness.quarantined[-1]
                raise Failure(
                    description=(
                        f"Sutura: {key.to_user_string()} has no published version to read; "
                        f"{len(staleness.quarantined)} version(s) are quarantined. Fix the data, or release one: "
                        f"sutura release {held.id}"
                    ),
                    allow_retries=False,
                )
            return inner.load_input(context)
        content = staleness.version.content_fingerprint or ""
        if not content.startswith("c:"):
            return inner.load_input(context)  # published by another producer: not stored by fingerprint
        fingerprint = content[2:]
        try:
            value = inner.load_input(_versioned(context, fingerprint))
        except Exception as exc:  # noqa: BLE001 - a version stored before Sutura was added
            context.log.warning(
                f"Sutura: the published version {fingerprint} of {key.to_user_string()} is not stored "
                f"({type(exc).__name__}); loading the latest stored value instead"
            )
            return inner.load_input(context)
        self._report(context, key, fingerprint, staleness)
        return value

    def _report(self, context: Any, key: Any, fingerprint: str, staleness: Any) -> None:
        """Say so when newer versions are held back (input metadata is an asset observation
        in Dagster, a write per load: only worth it when the value is stale)."""
        held = [v.id for v in staleness.quarantined]
        if not held:
            return
        stale = staleness.stale_seconds or 0.0
        metadata: dict[str, Any] = {
            "sutura/version": fingerprint,
            "sutura/published_at": staleness.published_at.isoformat() if staleness.published_at else "",
            "sutura/stale_seconds": float(stale),
        }
        metadata["sutura/quarantined"] = held
        context.log.warning(
            f"Sutura: {key.to_user_string()} serves its last published version {fingerprint} "
            f"(published {staleness.published_at:%Y-%m-%d %H:%M:%S} UTC, stale for {stale:.0f}s); "
            f"{len(held)} newer version(s) held in quarantine: {', '.join(held)}"
        )
        try:
            context.add_input_metadata(metadata)
        except Exception:  # noqa: BLE001 - metadata is informative only
            pass

    # ------------------------------------------------------------------ internals

    def _resource(self, context: Any) -> SuturaResource:
        if self.sutura is not None:
            return self.sutura
        step = _step_context(context)
        return resource_engine(step, "sutura") if step is not None else resource_engine(None)

    def _dataset(self, key: Any, metadata: Any) -> Any:
        from sutura_dagster.identity import asset_dataset

        return asset_dataset(key, metadata or {}, _load_translator(self.translator))


@contextmanager
def _reporting(known: Any) -> Iterator[None]:
    """Report the write of a deferred PUBLISH: ``published`` once stored, ``failed_write`` if storing raised."""
    if known is None or known.settle is None:
        yield
        return
    try:
        yield
    except BaseException:
        known.settle("failed_write")
        raise
    known.settle("published")


def _versioned(context: Any, fingerprint: str) -> Any:
    """The same context, pointing at ``__sutura_versions__/<asset key>/<fingerprint>``."""
    from dagster import AssetKey

    versioned = copy.copy(context)
    key = AssetKey([VERSIONS_PREFIX, *context.asset_key.path, fingerprint])
    versioned._asset_key = key  # noqa: SLF001 - the one field that differs
    upstream = getattr(context, "_upstream_output", None)
    if upstream is not None:
        upstream = copy.copy(upstream)
        upstream._asset_key = key  # noqa: SLF001
        versioned._upstream_output = upstream  # noqa: SLF001
    return versioned


def _step_context(context: Any) -> Any:
    try:
        return context.step_context
    except Exception:  # noqa: BLE001 - contexts built outside of a run
        return None


def _run_id(context: Any) -> str | None:
    """The OpenLineage runId of the step attempt that wrote this output."""
    from sutura_dagster.identity import _step_uuid

    step = _step_context(context)
    attempt = (step.previous_attempt_count + 1) if step is not None else 1
    return _step_uuid(context.run_id, context.step_key, attempt)


_TRANSLATORS: dict[str | None, Any] = {}


def _load_translator(path: str | None) -> Any:
    if path not in _TRANSLATORS:
        if path is None:
            _TRANSLATORS[path] = None
        else:
            module, _, attribute = path.partition(":")
            if not attribute:
                raise ValueError(f"translator must be 'package.module:attribute', got {path!r}")
            value = getattr(importlib.import_module(module), attribute)
            _TRANSLATORS[path] = value() if isinstance(value, type) else value
    return _TRANSLATORS[path]
