"""A saved plan as a file: what `plan --out` writes and `apply` reads (JSON, format version 1).

The file holds what a reviewer reads and what `apply` checks before it writes: the job, a hash
of the config sections that decide the plan, when it was made, a fingerprint of the source
records read, and for each operation the exact request it will make (method, path, fields;
never a password: creates and locks get theirs when they are applied) beside the TimeTrack
user as listed when it was planned. It names people, so it is written with mode 0600, and
atomically: a reader never sees half a plan.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sync.errors import UsageError
from sync.model import (
    Action,
    GuardVerdict,
    Offboarding,
    OffboardingChange,
    Operation,
    Plan,
    TimeTrackUser,
)

FORMAT = "timetrack-sync plan"
VERSION = 1
_GENERATED = ["password"]  # what creates and locks send that the file never holds


@dataclass(frozen=True, slots=True)
class PlannedOperation:
    """One operation of a saved plan and the TimeTrack state it was planned against."""

    operation: Operation
    against: TimeTrackUser | None  # the user as listed when planned (None: a create)
    desired_hash: str | None  # the desired fields' fingerprint, recorded on the link


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """A reviewed plan: exactly the operations `apply` may make, and what they assume."""

    plan_id: str
    job: str
    created_at: datetime
    config_hash: str
    source_fingerprint: str
    operations: tuple[PlannedOperation, ...]
    offboarding: tuple[OffboardingChange, ...] = ()
    missing_keys: frozenset[str] = frozenset()
    stale_keys: frozenset[str] = frozenset()
    guards: tuple[GuardVerdict, ...] = ()  # as judged when planned

    def plan(self) -> Plan:
        """The operations (and state changes) to apply, as the executor takes them."""
        return Plan(
            operations=tuple(p.operation for p in self.operations),
            offboarding=self.offboarding,
            missing_keys=self.missing_keys,
            stale_keys=self.stale_keys,
        )

    def desired_hashes(self) -> dict[str, str]:
        """Match key -> the desired fields' fingerprint, for the links the apply writes."""
        return {p.operation.key: p.desired_hash for p in self.operations if p.desired_hash}


def request_of(op: Operation) -> dict[str, Any] | None:
    """The HTTP request an operation makes (None: an adopt, which only links the user)."""
    if op.action is Action.ADOPT:
        return None
    if op.action is Action.CREATE:
        return {"method": "POST", "path": "users", "fields": op.payload(), "generated": _GENERATED}
    path = f"users/{op.tt_id}"
    if op.action is Action.DELETE:
        return {"method": "DELETE", "path": path}
    request: dict[str, Any] = {"method": "PUT", "path": path, "fields": op.payload()}
    if op.action is Action.LOCK:
        request["generated"] = _GENERATED
    return request


def to_document(saved: SavedPlan) -> dict[str, Any]:
    """The plan as the JSON document the file holds."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "plan_id": saved.plan_id,
        "job": saved.job,
        "created_at": saved.created_at.isoformat(),
        "config_hash": saved.config_hash,
        "source_fingerprint": saved.source_fingerprint,
        "operations": [_planned_doc(p) for p in saved.operations],
        "offboarding": [
            {"key": c.key, "username": c.username, "state": c.state.value, "note": c.note}
            for c in saved.offboarding
        ],
        "missing_keys": sorted(saved.missing_keys),
        "stale_keys": sorted(saved.stale_keys),
        "guards": [
            {"name": g.name, "tripped": g.tripped, "overridden": g.overridden, "message": g.message}
            for g in saved.guards
        ],
    }


def _planned_doc(planned: PlannedOperation) -> dict[str, Any]:
    doc = _operation_doc(planned.operation)
    doc["request"] = request_of(planned.operation)
    doc["planned_against"] = _user_doc(planned.against) if planned.against else None
    doc["desired_hash"] = planned.desired_hash
    return doc


def _operation_doc(op: Operation) -> dict[str, Any]:
    return {
        "action": op.action.value,
        "key": op.key,
        "username": op.username,
        "id": op.tt_id,
        "changes": {name: [old, new] for name, (old, new) in op.changes.items()},
        "reason": op.reason,
        "recreate": op.recreate,
        "fallback": _operation_doc(op.fallback) if op.fallback else None,
    }


def _user_doc(user: TimeTrackUser) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "enabled": user.enabled, **user.fields}


def write_plan(saved: SavedPlan, path: Path) -> None:
    """Write the plan to `path` atomically, readable by its owner only."""
    text = json.dumps(to_document(saved), indent=2, ensure_ascii=False) + "\n"
    folder = path.resolve().parent
    try:
        fd, scratch = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(
            f"cannot write the plan to {path}: {exc.strerror}",
            hint="choose a writable folder for --out",
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp made it 0600
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def read_plan(path: Path) -> SavedPlan:
    """Read a plan file; a file that is not one names what is wrong with it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(
            f"cannot read the plan {path}: {exc.strerror}",
            hint="give the file `timetrack-sync plan --out FILE` wrote",
        ) from None
    except ValueError as exc:
        raise UsageError(
            f"{path} is not a plan file: not JSON ({exc})",
            hint="give the file `timetrack-sync plan --out FILE` wrote",
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UsageError(
            f'{path} is not a plan file (no "format": "{FORMAT}")',
            hint="give the file `timetrack-sync plan --out FILE` wrote",
        )
    if doc.get("version") != VERSION:
        raise UsageError(
            f"{path} is a plan of format version {doc.get('version')!r}; this version of "
            f"timetrack-sync reads version {VERSION}",
            hint="make the plan again with this version",
        )
    try:
        return _from_document(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(
            f"{path} is not a valid plan file ({type(exc).__name__}: {exc}); was it edited?",
            hint="make a new plan with `timetrack-sync plan --out FILE`",
        ) from None


def _from_document(doc: Mapping[str, Any]) -> SavedPlan:
    created = datetime.fromisoformat(doc["created_at"])
    if created.tzinfo is None:
        raise ValueError("created_at has no time zone")
    return SavedPlan(
        plan_id=_text(doc["plan_id"]),
        job=_text(doc["job"]),
        created_at=created,
        config_hash=_text(doc["config_hash"]),
        source_fingerprint=_text(doc["source_fingerprint"]),
        operations=tuple(_planned(p) for p in _list(doc["operations"])),
        offboarding=tuple(
            OffboardingChange(
                _text(c["key"]), _text(c["username"]), Offboarding(c["state"]), _text(c["note"])
            )
            for c in _list(doc["offboarding"])
        ),
        missing_keys=frozenset(map(_text, _list(doc["missing_keys"]))),
        stale_keys=frozenset(map(_text, _list(doc["stale_keys"]))),
        guards=tuple(
            GuardVerdict(_text(g["name"]), bool(g["tripped"]), bool(g["overridden"]), g["message"])
            for g in _list(doc["guards"])
        ),
    )


def _planned(doc: Mapping[str, Any]) -> PlannedOperation:
    against = doc["planned_against"]
    user = None
    if against is not None:
        fields = {k: v for k, v in against.items() if k not in ("id", "username", "enabled")}
        user = TimeTrackUser(
            _text(against["id"]), _text(against["username"]), bool(against["enabled"]), fields
        )
    desired_hash = doc["desired_hash"]
    return PlannedOperation(
        _operation(doc), user, None if desired_hash is None else str(desired_hash)
    )


def _operation(doc: Mapping[str, Any]) -> Operation:
    changes = {_text(name): (pair[0], pair[1]) for name, pair in doc["changes"].items()}
    fallback = doc["fallback"]
    return Operation(
        action=Action(doc["action"]),
        key=_text(doc["key"]),
        username=_text(doc["username"]),
        tt_id=None if doc["id"] is None else _text(doc["id"]),
        changes=changes,
        reason=_text(doc["reason"]),
        recreate=bool(doc["recreate"]),
        fallback=_operation(fallback) if fallback is not None else None,
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def _list(value: object) -> Sequence[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value
