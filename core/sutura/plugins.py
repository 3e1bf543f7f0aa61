"""The plugin manager: hook specs + every plugin in the ``sutura`` entry-point group."""

from __future__ import annotations

import importlib
import logging
from typing import Any

import pluggy

from sutura import hookspecs

__all__ = ["BUILTIN_PLUGINS", "notify", "plugin_manager"]

log = logging.getLogger("sutura")

# Registered through the entry-point group like any plugin; imported directly only when
# the package metadata is missing (running from a source tree without installing).
BUILTIN_PLUGINS = (
    "sutura.policies.retry",
    "sutura.policies.quarantine",
    "sutura.policies.change",
    "sutura.diagnose.rootcause",
)


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("sutura")
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints("sutura")
    for name in BUILTIN_PLUGINS:
        module = importlib.import_module(name)
        if not pm.is_registered(module):
            pm.register(module, name=name)
    return pm


def notify(pm: pluggy.PluginManager, hook: str, **kwargs: Any) -> None:
    """Call a notification hook; a plugin's exception is logged, never raised."""
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        try:
            impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
        except Exception:  # noqa: BLE001 - a notifier must not break a decision
            log.warning("sutura plugin %s failed in %s", impl.plugin_name, hook, exc_info=True)
