"""The state database: snapshot, links, run records and the operations journal; the run lock."""

from __future__ import annotations

from sync.state.lock import RunLock
from sync.state.records import OperationRecord, RunRecord
from sync.state.store import StateStore

__all__ = ["OperationRecord", "RunLock", "RunRecord", "StateStore"]
