"""Facet translators, registered by facet name and scope.

A translator is ``fn(facet: dict, target, path: str) -> None``: it reads one facet,
checks the fields it needs (raising ``InvalidEvent`` with ``path`` + the field), and
records facts on ``target`` (a DatasetFacts, RunFacts or JobFacts). Facets with no
translator are still kept verbatim on the node and in the raw event: nothing is lost.

Scopes: ``run``, ``job``, ``dataset`` (a dataset's ``facets``), ``input``
(``inputFacets``) and ``output`` (``outputFacets``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from sutura.errors import InvalidEvent

__all__ = ["Translator", "facet", "objects", "opt", "req", "translators"]

Translator = Callable[[dict[str, Any], Any, str], None]
_REGISTRY: dict[tuple[str, str], Translator] = {}
SCOPES = ("run", "job", "dataset", "input", "output")


def facet(name: str, *scopes: str) -> Callable[[Translator], Translator]:
    """Register the decorated function as the translator of facet ``name`` in ``scopes``."""
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(f"unknown facet scope {scope!r}")

    def register(fn: Translator) -> Translator:
        for scope in scopes:
            _REGISTRY[(scope, name)] = fn
        return fn

    return register


def translators() -> dict[tuple[str, str], Translator]:
    return _REGISTRY


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "an object", float: "a number"}


def req(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    """The required field ``key`` of ``obj``, of type ``kind``; else InvalidEvent at ``path.key``."""
    value = obj.get(key)
    if value is None:
        raise InvalidEvent(f"{path}.{key}", "required")
    if type(value) is kind:  # the common case, without building the path
        return value
    return _typed(value, kind, f"{path}.{key}")


def opt(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    """The optional field ``key``, or None; a present value of the wrong type is an error."""
    value = obj.get(key)
    if value is None or type(value) is kind:
        return value
    return _typed(value, kind, f"{path}.{key}")


def _typed(value: Any, kind: type | tuple[type, ...], path: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, bool) and bool not in kinds:
        raise InvalidEvent(path, f"must be {_TYPE_NAMES.get(kinds[0], kinds[0].__name__)}, got a boolean")
    if not isinstance(value, kinds):
        raise InvalidEvent(path, f"must be {_TYPE_NAMES.get(kinds[0], kinds[0].__name__)}, got {type(value).__name__}")
    return value


def objects(values: list[Any] | None, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(path[i], item)`` for a list that must hold objects."""
    for i, item in enumerate(values or ()):
        here = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise InvalidEvent(here, f"must be an object, got {type(item).__name__}")
        yield here, item
