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

The journal is written by the main thread alone, in groups: the `pending` rows of the operations
about to be submitted are committed in one transaction before any of their calls is made, and
the outcomes of the calls that finished meanwhile in another, each with its link and snapshot
change. That keeps the write-ahead rule (no call before its row, no outcome without its change)
while a commit costs once per group: the slower the main thread, the larger the next group, so
the journal keeps up with the calls. Per-operation log lines are at debug (the journal is the
audit); failures are warnings.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import secrets
import string
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import structlog

from sync.model import Action, Operation, Plan
from sync.recovery import look_up, settle
from sync.report import ApplyResult, FailedOperation
from sync.state.journal import Done, Failed, Outcome, Refused
from sync.state.store import StateStore
from sync.timetrack.client import TimeTrackClient, WriteResult
from sync.timetrack.errors import AuthError, NotFoundError, RejectedError, TimeTrackError

log = structlog.get_logger(__name__)

PASSWORD_LENGTH = 24
_PASSWORD_ALPHABET = string.ascii_letters + string.digits + "!#%+-.:=?@_~"

ProgressCallback = Callable[[int], None]


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password with letters, digits and symbols (sent once, never stored)."""
    size = len(_PASSWORD_ALPHABET)
    fair = 256 - 256 % size  # bytes below this map evenly onto the alphabet
    while True:
        # One read of the system's randomness per password, not one per character: each read
        # gives up the GIL, and winning it back costs up to 5 ms while the main thread works.
        drawn = [b for b in secrets.token_bytes(2 * length) if b < fair][:length]
        candidate = "".join(_PASSWORD_ALPHABET[b % size] for b in drawn)
        if (
            len(candidate) == length
            and any(c.islower() for c in candidate)
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


_Answer = WriteResult | TimeTrackError


def _answer(future: Future[WriteResult]) -> _Answer:
    """The result of a finished call, or the TimeTrack error it raised."""
    try:
        return future.result()
    except TimeTrackError as exc:
        return exc


def _is_refused_delete(op: Operation, answer: _Answer) -> bool:
    return op.action is Action.DELETE and isinstance(answer, RejectedError) and is_refusal(answer)


class Executor:
    """Runs the operations of one plan for one job, journaling each."""

    def __init__(
        self,
        client: TimeTrackClient,
        store: StateStore,
        *,
        run_id: int,
        job: str,
        desired_hashes: Mapping[str, str],
        concurrency: int,
        progress: ProgressCallback | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._client = client
        self._stop = stop
        self._store = store
        self._run_id = run_id
        self._job = job
        self._desired_hashes = desired_hashes  # match key -> desired_hash of its fields
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
        skipped = [
            op for op in ops if op.action is Action.CREATE and op.recreate and op.key in failed_keys
        ]
        reason = "not recreated: deleting the old user failed"
        ids = self._store.journal_pending_many(self._run_id, self._job, skipped)
        self._store.journal_outcomes([Failed(op_id, None, reason, 0) for op_id in ids])
        for op in skipped:
            self.result.failed.append(FailedOperation(op, reason, None))
            self._tick()

    def _run_local_adopts(self, adopts: list[Operation]) -> None:
        # Adopting writes nothing to TimeTrack: it only records ownership (and an audit row).
        ids = self._store.journal_pending_many(self._run_id, self._job, adopts)
        self._store.journal_outcomes(
            [
                Done(op_id, self._job, op, None, None, 0, self._hash_for(op))
                for op, op_id in zip(adopts, ids, strict=True)
            ]
        )
        for op in adopts:
            self.result.done[op.action.value] += 1
            self._tick()

    def _run_phase(self, ops: list[Operation]) -> set[str]:
        """Run operations concurrently; return the keys of the failed ones."""
        failed: set[str] = set()
        if not ops:
            return failed
        queue = deque(ops)
        in_flight: dict[Future[WriteResult], tuple[Operation, int]] = {}
        with ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="apply") as pool:
            while queue or in_flight:
                self._submit(pool, queue, in_flight)
                if not in_flight:
                    break
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                calls = [(*in_flight.pop(future), _answer(future)) for future in finished]
                failed.update(self._finish(calls))
        return failed

    def _submit(
        self,
        pool: ThreadPoolExecutor,
        queue: deque[Operation],
        in_flight: dict[Future[WriteResult], tuple[Operation, int]],
    ) -> None:
        """Fill the window (twice the concurrency) with the next operations, journaled first."""
        batch: list[Operation] = []
        while queue and len(in_flight) + len(batch) < 2 * self._concurrency:
            if self._should_stop():
                break
            batch.append(queue.popleft())
        if not batch:
            return
        # Write-ahead: every pending row of the batch is committed before any of its calls.
        ids = self._store.journal_pending_many(self._run_id, self._job, batch)
        for op, op_id in zip(batch, ids, strict=True):
            # A copy of the context per call: run_id and job stay bound in the pool.
            call = pool.submit(contextvars.copy_context().run, self._call, op)
            in_flight[call] = (op, op_id)

    def _finish(self, calls: list[tuple[Operation, int, _Answer]]) -> set[str]:
        """Journal the outcomes of finished calls in one transaction, then count them."""
        outcomes = [self._outcome(op, op_id, answer) for op, op_id, answer in calls]
        self._store.journal_outcomes([o for o in outcomes if o is not None])
        failed = set()
        for op, op_id, answer in calls:
            if not self._count(op, op_id, answer):
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
        try:
            if op.action is Action.LOCK:
                locked = {**op.payload(), "password": generate_password()}
                return self._client.update_user(op.tt_id, locked)
            return self._client.delete_user(op.tt_id)
        except NotFoundError as exc:
            # Deleted in TimeTrack meanwhile: the goal of a lock or delete (no access) holds.
            return WriteResult(status_code=404, attempts=exc.attempts, user=None)

    def _outcome(self, op: Operation, op_id: int, answer: _Answer) -> Outcome | None:
        """What to journal for a finished call; None: its outcome is unknown (stays pending)."""
        if isinstance(answer, WriteResult):
            status, user, hash_ = answer.status_code or None, answer.user, self._hash_for(op)
            return Done(op_id, self._job, op, user, status, answer.attempts, hash_)
        if _is_refused_delete(op, answer):
            assert isinstance(answer, RejectedError) and answer.status_code is not None
            return Refused(op_id, self._job, op, answer.status_code, refusal_message(answer))
        if answer.maybe_applied:
            return None
        return Failed(op_id, answer.status_code, str(answer), answer.attempts)

    def _count(self, op: Operation, op_id: int, answer: _Answer) -> bool:
        """Count a journaled outcome in the result (and log it); False if the call failed."""
        ok = True
        if isinstance(answer, WriteResult):
            self.result.done[op.action.value] += 1
            tt_id = op.tt_id or (answer.user.id if answer.user else None)
            log.debug(
                "operation_done",
                action=op.action.value,
                username=op.username,
                key=op.key,
                tt_id=tt_id,
            )
        elif _is_refused_delete(op, answer):
            assert isinstance(answer, RejectedError)
            self._retained(op, answer)
        else:
            self._failed(op, op_id, answer)
            ok = False
        self._tick()
        return ok

    def _failed(self, op: Operation, op_id: int, exc: TimeTrackError) -> None:
        failure = FailedOperation(op, str(exc), exc.status_code)
        if exc.maybe_applied:
            # An attempt may have taken effect: the row stays `pending` until the end of
            # the apply looks the user up (or the next run does, if TimeTrack is down).
            self._uncertain.append((failure, op_id))
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

    def _retained(self, op: Operation, exc: RejectedError) -> None:
        """TimeTrack refused a delete: the user is kept, locked and queued; the run goes on."""
        message = refusal_message(exc)
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

    def _hash_for(self, op: Operation) -> str | None:
        return self._desired_hashes.get(op.key)

    def _tick(self) -> None:
        if self._progress is not None:
            self._progress(1)
