"""After a run: decide what each target is owed, send it, and record what arrived.

Nothing here can fail or hold up the run beyond each target's timeout: a notice that does not
arrive is logged (`notification_failed`), counted (the report's `notices_failed`, exported as
`timetrack_sync_notifications_failed_total`) and, since it is not recorded as sent, sent again
by the next run.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from sync.config import AppConfig
from sync.errors import SyncError
from sync.notify.deliver import DeliveryError, deliver, describe
from sync.notify.events import decide
from sync.notify.messages import notice_for
from sync.report import RunReport
from sync.state.store import StateStore

log = structlog.get_logger(__name__)


def notify_run(config: AppConfig, store: StateStore, report: RunReport, now: datetime) -> int:
    """Send what `report` owes each configured target; returns how many notices failed."""
    failed = 0
    for index, target in enumerate(config.notify):
        where = f"notify[{index}]"
        try:
            decision = decide(report, target, store.notices_sent(target.identity, report.job), now)
        except SyncError as exc:
            log.warning("notification_failed", target=describe(target), error=str(exc))
            failed += 1
            continue
        sent: dict[str, str] = {}
        for due in decision.due:
            notice = notice_for(report, due)
            try:
                answer = deliver(target, notice, where)
            except (DeliveryError, SyncError) as exc:
                failed += 1
                log.warning(
                    "notification_failed", target=describe(target), notice=due.event, error=str(exc)
                )
                continue
            log.info("notification_sent", target=describe(target), notice=due.event, answer=answer)
            sent.update(due.record)
        try:
            store.record_notices(target.identity, report.job, sent, decision.forget)
        except SyncError as exc:  # sent, but not recorded: the next run may repeat it
            log.warning("notification_not_recorded", target=describe(target), error=str(exc))
    return failed
