"""Models the engine holds: ``--changed`` does not build a consumer of a breaking schema change.

When a dataset loses or retypes a column, ``engine.plan_runs`` holds every job that reads
it and records a SKIP decision naming the reason ("breaking schema change in <dataset>").
``--changed`` finds this project's held models through that decision (the engine's
readers of the dataset, ``engine.lineage``, then each one's SKIP decisions) and leaves
out of the dbt invocation each held model and what is downstream only through it: a held
model writes no new data, so nothing needs to run because of it. A node that another
changed input also reaches still runs (it reads the held model's last good relation).

A hold is remembered, not consumed. The change cursor moves past the breaking change as
usual (so the other consumers of that change and of later ones are not rebuilt on every
run), and the hold is kept next to the cursor in ``sutura_state.json`` with the model's
checksum. Each later ``--changed`` prints it again and keeps excluding it until either

- the model's SQL changes (the user fixed it): the next ``--changed`` builds it and its
  downstream as if its input had just changed, or
- a build selects it explicitly and it succeeds (the user accepts the new schema as it is:
  ``sutura-dbt build --select <model>+``; a full ``sutura-dbt build`` does the same).

Re-reading the change from the engine instead would not work: the engine holds the
consumers of a breaking change every time that change is planned, fixed model or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

from sutura.api import Change

__all__ = ["Hold", "Holds", "checksum", "describe", "engine_holds", "exclude_words", "runnable"]

_PHRASE = "breaking schema change in "
_ENGINE_ADVICE = "; fix the model or accept the new schema"  # the runner says how, per model


@dataclass(frozen=True)
class Hold:
    """One held model: the engine's reason, the changes (cursors) that caused it, its
    checksum when held (a different one means the model was edited since), and since when."""

    node: str
    reason: str
    datasets: tuple[str, ...]
    changes: tuple[str, ...]
    checksum: str
    since: str

    def to_state(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "datasets": list(self.datasets),
            "changes": list(self.changes),
            "checksum": self.checksum,
            "since": self.since,
        }

    @classmethod
    def from_state(cls, node: str, entry: dict[str, Any]) -> Hold:
        return cls(
            node,
            str(entry.get("reason", "")),
            tuple(entry.get("datasets", ())),
            tuple(entry.get("changes", ())),
            str(entry.get("checksum", "")),
            str(entry.get("since", "")),
        )


def checksum(manifest: dict[str, Any], uid: str) -> str:
    node = manifest.get("nodes", {}).get(uid) or {}
    return str((node.get("checksum") or {}).get("checksum", ""))


def _names(reason: str, dataset: str) -> bool:
    """Whether the engine's ``reason`` is about ``dataset`` (not one whose id merely starts so)."""
    at = reason.find(_PHRASE + dataset)
    end = at + len(_PHRASE) + len(dataset)
    return at >= 0 and (end == len(reason) or reason[end] in ";, )")


def engine_holds(
    ask: Callable[..., Any], changes: Sequence[Change], job_namespace: str, ours: dict[str, str], manifest: dict[str, Any]
) -> dict[str, Hold]:
    """This project's models the engine held for the breaking changes among ``changes``
    (call after ``plan_runs``, which records the SKIP decisions); ``ours`` maps job name to
    unique id. ``ask(method, ...)`` calls the engine and answers None when it is down."""
    from sutura.errors import NotFound

    found: dict[str, list[tuple[Change, str]]] = {}
    for change in changes:
        if change.kind != "schema_breaking":
            continue
        try:
            graph = ask("lineage", change.dataset.id, "downstream", 1) or {}
        except NotFound:
            continue
        for node in graph.get("graph", []):
            data = node.get("data") or {}
            uid = ours.get(data.get("name", "")) if node.get("type") == "JOB" and data.get("namespace") == job_namespace else None
            if uid is None:
                continue
            try:
                decisions = ask("decisions", node["id"], action="skip", limit=100) or []
            except NotFound:
                continue
            reason = next((d.reason for d in decisions if _names(d.reason, change.dataset.id)), None)
            if reason is not None:  # no SKIP decision: the engine did not hold it (e.g. it reads a quarantine)
                found.setdefault(uid, []).append((change, reason.removeprefix("held: ").removesuffix(_ENGINE_ADVICE)))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {
        uid: Hold(
            uid,
            " | ".join(dict.fromkeys(reason for _, reason in why)),
            tuple(dict.fromkeys(c.dataset.id for c, _ in why)),
            tuple(dict.fromkeys(c.cursor for c, _ in why)),
            checksum(manifest, uid),
            now,
        )
        for uid, why in found.items()
    }


@dataclass
class Holds:
    """The holds of one (engine, profile, target): those pending from earlier builds and
    those of this build's plan, split into still held and fixed (edited since held)."""

    manifest: dict[str, Any]
    pending: dict[str, Hold] = field(default_factory=dict)

    @classmethod
    def load(cls, manifest: dict[str, Any], state: dict[str, Any]) -> Holds:
        """From the state file's entries; a model no longer in the project is forgotten."""
        nodes = manifest.get("nodes", {})
        entries = state if isinstance(state, dict) else {}
        return cls(manifest, {uid: Hold.from_state(uid, e) for uid, e in sorted(entries.items()) if uid in nodes and isinstance(e, dict)})

    def add(self, holds: dict[str, Hold]) -> None:
        """Holds of this plan. One for changes already pending is that same hold (the pending
        entry says whether the model was fixed since); a new change holds the model afresh."""
        for uid, hold in holds.items():
            known = self.pending.get(uid)
            if known is None:
                self.pending[uid] = hold
            elif not set(hold.changes) <= set(known.changes):
                self.pending[uid] = replace(
                    hold,
                    reason=" | ".join(dict.fromkeys((*known.reason.split(" | "), *hold.reason.split(" | ")))),
                    datasets=tuple(dict.fromkeys(known.datasets + hold.datasets)),
                    changes=tuple(dict.fromkeys(known.changes + hold.changes)),
                    since=known.since,
                )

    @property
    def held(self) -> dict[str, Hold]:
        return {uid: h for uid, h in self.pending.items() if h.checksum == checksum(self.manifest, uid)}

    @property
    def fixed(self) -> dict[str, Hold]:
        return {uid: h for uid, h in self.pending.items() if h.checksum != checksum(self.manifest, uid)}

    def excluded(self, roots: Iterable[str]) -> set[str]:
        """The nodes the roots reach only through a held model, and the held models themselves."""
        from sutura_dbt.changed import closure

        roots = list(roots)
        held = set(self.held)
        return closure(self.manifest, roots) - closure(self.manifest, [r for r in roots if r not in held], blocked=held)

    def report(self, excluded: set[str], echo: Callable[[str], None]) -> list[dict[str, Any]]:
        """Say each held model and why (one line each); return them for the ``--json`` summary."""
        out = []
        for hold in self.held.values():
            line, left_out = describe(self.manifest, hold, excluded)
            echo(line)
            out.append({"node": hold.node, "reason": hold.reason, "datasets": list(hold.datasets), "since": hold.since, "not_built": left_out})
        return out

    def remaining(self, final: dict[str, str]) -> dict[str, dict[str, Any]]:
        """The state entries after a build: a model that built successfully is no longer held."""
        return {uid: h.to_state() for uid, h in sorted(self.pending.items()) if final.get(uid) != "success"}


def exclude_words(manifest: dict[str, Any], excluded: set[str], held: Iterable[str]) -> list[str]:
    """``--exclude`` words for ``excluded``: ``fqn:<held>+`` when everything downstream of a
    held model is excluded, else each excluded model, seed and snapshot by name (dbt leaves
    out the tests of an excluded node with it)."""
    from sutura_dbt.changed import closure

    nodes = manifest.get("nodes", {})
    words, covered = [], set()
    for uid in sorted(held):
        if uid in excluded and closure(manifest, [uid]) <= excluded:
            words.append(f"fqn:{'.'.join(nodes[uid]['fqn'])}+")
            covered |= closure(manifest, [uid])
    for uid in sorted(excluded - covered):
        node = nodes.get(uid) or {}
        if node.get("resource_type") in ("model", "seed", "snapshot"):
            words.append(f"fqn:{'.'.join(node['fqn'])}")
    return words


def runnable(manifest: dict[str, Any], roots: Iterable[str], excluded: set[str]) -> bool:
    """Whether anything is left to build: a node the roots reach (a source's own tests
    included) that is not excluded, nor a test of an excluded node."""
    from sutura_dbt.changed import closure

    nodes = manifest.get("nodes", {})
    for uid in closure(manifest, list(roots)) - excluded:
        node = nodes.get(uid)
        if node is None:
            continue  # a source: nothing to build
        if node.get("resource_type") != "test" or not set(node.get("depends_on", {}).get("nodes", [])) & excluded:
            return True
    return False


def describe(manifest: dict[str, Any], hold: Hold, excluded: set[str]) -> tuple[str, list[str]]:
    """The line that says a model is held and why, and the nodes left out with it."""
    from sutura_dbt.changed import closure

    nodes = manifest.get("nodes", {})
    left_out = sorted(
        u for u in closure(manifest, [hold.node]) & excluded if u != hold.node and nodes.get(u, {}).get("resource_type") != "test"
    )
    name = nodes.get(hold.node, {}).get("name", hold.node)
    with_downstream = f" and {len(left_out)} downstream" if left_out else ""
    return (
        f"Sutura: HELD {hold.node}{with_downstream}, not built (since {hold.since}): {hold.reason} "
        f"(edited, it builds with the next --changed; to accept: sutura-dbt build --select {name}+)",
        left_out,
    )
