"""Applies a Plan through the TimeTrack client: the only place that writes to TimeTrack.

Every write follows the write-ahead journal of the architecture: its operation row is committed
`pending` before the call, and becomes `done` or `failed` after it, in one transaction with the
link and snapshot change. Creates and updates run concurrently (bounded by a thread pool of the
client's concurrency); the locks of leavers after them, then the deletes; the deletes of
`on_rename: recreate` run first so the username is free for the new user. A delete TimeTrack
refuses (a 4xx other than 401, 403, 404, 408 and 429: a user with time entries) is no failure:
it is journaled `refused`, the user is retained (and locked by the delete's fallback if it was
not locked yet), and the run goes on. One failed operation never stops the others; an
authentication failure stops submitting new ones (every further call would fail the same way),
and so does the optional `stop` event (the daemon's shutdown): operations already sent finish
and are journaled, so a stopped run leaves no `pending` row behind. A write that gave up after
an attempt that may have taken effect (a 5xx, a timeout, a dropped answer) stays `pending`
until the end of the apply, which looks its user up and journals what TimeTrack shows; only if
TimeTrack cannot answer then does the row wait for the next run (sync.recovery). So the journal
never calls failed a write that TimeTrack applied, but for a lock: TimeTrack lists no password,
so a lock whose answer was lost cannot be confirmed; it is journaled failed and sent again.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import secrets
import string
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import structlog

from sync.model import Action, DesiredUser, Operation, Plan
from sync.recovery import look_up, settle
from sync.report import ApplyResult, FailedOperation
from sync.state.store import StateStore
from sync.timetrack.client import TimeTrackClient, WriteResult
from sync.timetrack.errors import AuthError, NotFoundError, RejectedError, TimeTrackError

log = structlog.get_logger(__name__)

PASSWORD_LENGTH = 24
_PASSWORD_ALPHABET = string.ascii_letters + string.digits + "!#%+-.:=?@_~"

ProgressCallback = Callable[[int], None]


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password with letters, digits and symbols (sent once, never stored)."""
    while True:
        candidate = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and any(not c.isalnum() for c in candidate)
        ):
            return candidate


def is_refusal(exc: RejectedError) -> bool:
    """Whether TimeTrack refused a delete for good (a user with time entries, say)."""
    # 408 is a timeout, not an answer; 401/403/404/429 have error classes of their own.
    return exc.status_code is not None and exc.status_code != 408


def refusal_message(exc: RejectedError) -> str:
    """TimeTrack's own words for a refusal (its error detail or title), else the error."""
    return exc.detail or exc.title or exc.message


def desired_hash(fields: Mapping[str, Any]) -> str:
    """A stable fingerprint of a desired user's fields (stored with the link for audit)."""
    text = json.dumps(dict(fields), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Executor:
    """Runs the operations of one plan for one job, journaling each."""

    def __init__(
        self,
        client: TimeTrackClient,
        store: StateStore,
        *,
        run_id: int,
        job: str,
        desired: Mapping[str, DesiredUser],
        concurrency: int,
        progress: ProgressCallback | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._client = client
        self._stop = stop
        self._store = store
        self._run_id = run_id
        self._job = job
        self._desired = desired
        self._concurrency = max(1, concurrency)
        self._progress = progress
        self.result = ApplyResult()
        self._uncertain: list[tuple[FailedOperation, int]] = []
        self._fallbacks: list[Operation] = []  # locks of refused deletes

    def apply(self, plan: Plan) -> ApplyResult:
        """Apply every operation of the plan in its phases; return what happened."""
        ops = plan.operations
        recreate_deletes = [op for op in ops if op.action is Action.DELETE and op.recreate]
        failed_recreates = self._run_phase(recreate_deletes)
        self._run_local_adopts([op for op in ops if op.action is Action.ADOPT])
        writes = [
            op
            for op in ops
            if op.action in (Action.CREATE, Action.UPDATE)
            and not (op.recreate and op.key in failed_recreates)
        ]
        self._skip_creates_of_failed_recreates(ops, failed_recreates)
        self._run_phase(writes)
        self._run_phase([op for op in ops if op.action is Action.LOCK])
        self._run_phase([op for op in ops if op.action is Action.DELETE and not op.recreate])
        self._run_phase(self._fallbacks)
        self._settle_uncertain()
        return self.result

    def _settle_uncertain(self) -> None:
        """Look up the users of writes with an unknown outcome and journal what happened."""
        if not self._uncertain:
            return
        try:
            current = look_up(self._client, (f.operation for f, _ in self._uncertain))
        except TimeTrackError as exc:
            # TimeTrack cannot tell now: the rows stay pending for the next run's recovery.
            log.warning(
                "uncertain_operations_left_pending", count=len(self._uncertain), error=str(exc)
            )
            return
        for failure, op_id in self._uncertain:
            if settle(self._store, op_id, self._job, failure.operation, current):
                self.result.failed.remove(failure)
                self.result.done[failure.operation.action.value] += 1
        self._uncertain.clear()

    def _skip_creates_of_failed_recreates(
        self, ops: Iterable[Operation], failed_keys: set[str]
    ) -> None:
        for op in ops:
            if op.action is Action.CREATE and op.recreate and op.key in failed_keys:
                op_id = self._store.journal_pending(self._run_id, self._job, op)
                reason = "not recreated: deleting the old user failed"
                self._store.journal_failed(op_id, http_status=None, error=reason, attempts=0)
                self.result.failed.append(FailedOperation(op, reason, None))
                self._tick()

    def _run_local_adopts(self, adopts: list[Operation]) -> None:
        # Adopting writes nothing to TimeTrack: it only records ownership (and an audit row).
        for op in adopts:
            op_id = self._store.journal_pending(self._run_id, self._job, op)
            self._store.journal_done(
                op_id,
                self._job,
                op,
                user=None,
                http_status=None,
                attempts=0,
                desired_hash=self._hash_for(op),
            )
            self.result.done[op.action.value] += 1
            self._tick()

    def _run_phase(self, ops: list[Operation]) -> set[str]:
        """Run operations concurrently; return the keys of the failed ones."""
        failed: set[str] = set()
        if not ops:
            return failed
        window = self._concurrency * 2
        queue = list(reversed(ops))
        in_flight: dict[Future[WriteResult], tuple[Operation, int]] = {}
        with ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="apply") as pool:
            while queue or in_flight:
                while queue and len(in_flight) < window and not self._should_stop():
                    op = queue.pop()
                    op_id = self._store.journal_pending(self._run_id, self._job, op)
                    # A copy of the context per call: run_id and job stay bound in the pool.
                    call = pool.submit(contextvars.copy_context().run, self._call, op)
                    in_flight[call] = (op, op_id)
                if not in_flight:
                    break
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    op, op_id = in_flight.pop(future)
                    if not self._record(future, op, op_id):
                        failed.add(op.key)
        return failed

    def _should_stop(self) -> bool:
        if self._stop is not None and self._stop.is_set() and self.result.aborted is None:
            self.result.aborted = "stopped before every operation was sent (shutdown)"
            log.warning("apply_stopped", reason="shutdown requested")
        return self.result.aborted is not None

    def _call(self, op: Operation) -> WriteResult:
        if op.action is Action.CREATE:
            fields = {**op.payload(), "password": generate_password()}
            return self._client.create_user(fields)
        assert op.tt_id is not None, f"{op.action} without a TimeTrack id"
        if op.action is Action.UPDATE:
            return self._client.update_user(op.tt_id, op.payload())
        if op.action is Action.LOCK:
            locked = {**op.payload(), "password": generate_password()}
            return self._client.update_user(op.tt_id, locked)
        try:
            return self._client.delete_user(op.tt_id)
        except NotFoundError as exc:
            # Already gone: the goal of the delete holds.
            return WriteResult(status_code=404, attempts=exc.attempts, user=None)

    def _record(self, future: Future[WriteResult], op: Operation, op_id: int) -> bool:
        try:
            result = future.result()
        except RejectedError as exc:
            if op.action is Action.DELETE and is_refusal(exc):
                self._retain(op, op_id, exc)
                return True
            return self._failed(op, op_id, exc)
        except TimeTrackError as exc:
            return self._failed(op, op_id, exc)
        self._store.journal_done(
            op_id,
            self._job,
            op,
            user=result.user,
            http_status=result.status_code or None,
            attempts=result.attempts,
            desired_hash=self._hash_for(op),
        )
        self.result.done[op.action.value] += 1
        log.info(
            "operation_done",
            action=op.action.value,
            username=op.username,
            key=op.key,
            tt_id=op.tt_id or (result.user.id if result.user else None),
        )
        self._tick()
        return True

    def _failed(self, op: Operation, op_id: int, exc: TimeTrackError) -> bool:
        failure = FailedOperation(op, str(exc), exc.status_code)
        if exc.maybe_applied:
            # An attempt may have taken effect: the row stays `pending` until the end of
            # the apply looks the user up (or the next run does, if TimeTrack is down).
            self._uncertain.append((failure, op_id))
        else:
            self._store.journal_failed(
                op_id, http_status=exc.status_code, error=str(exc), attempts=exc.attempts
            )
        self.result.failed.append(failure)
        log.warning(
            "operation_outcome_unknown" if exc.maybe_applied else "operation_failed",
            action=op.action.value,
            username=op.username,
            key=op.key,
            status=exc.status_code,
            error=str(exc),
        )
        if isinstance(exc, AuthError):
            self.result.aborted = str(exc)
        self._tick()
        return False

    def _retain(self, op: Operation, op_id: int, exc: RejectedError) -> None:
        """TimeTrack refused a delete: keep the user, locked and queued, and go on."""
        message = refusal_message(exc)
        assert exc.status_code is not None
        self._store.journal_refused(
            op_id, self._job, op, http_status=exc.status_code, error=message
        )
        self.result.refused.append(FailedOperation(op, message, exc.status_code))
        if op.fallback is not None:
            self._fallbacks.append(op.fallback)
        log.info(
            "delete_refused",
            username=op.username,
            key=op.key,
            status=exc.status_code,
            message=message,
        )
        self._tick()

    def _hash_for(self, op: Operation) -> str | None:
        desired = self._desired.get(op.key)
        return desired_hash(desired.fields) if desired is not None else None

    def _tick(self) -> None:
        if self._progress is not None:
            self._progress(1)
