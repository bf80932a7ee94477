"""The store's record of notifications sent (a part of StateStore, like `history`).

One row per target, job and topic: what was said last and when. A notice that could not be
delivered is not recorded, so the next run sends it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from sync.state.tables import notices


class NoticeLog:
    """What each notification target was told (mixed into StateStore)."""

    if TYPE_CHECKING:
        _now: Callable[[], datetime]

        def _read(self, action: str) -> AbstractContextManager[sa.Connection]: ...

        def _write(self, action: str) -> AbstractContextManager[sa.Connection]: ...

    def notices_sent(self, target: str, job: str) -> dict[str, tuple[str, datetime]]:
        """Topic -> (what was said, when) for one target and job."""
        query = sa.select(notices.c.topic, notices.c.detail, notices.c.sent_at).where(
            notices.c.target == target, notices.c.job == job
        )
        with self._read("read the notices sent") as conn:
            return {topic: (detail, at) for topic, detail, at in conn.execute(query)}

    def record_notices(
        self, target: str, job: str, sent: Mapping[str, str], forget: Iterable[str] = ()
    ) -> None:
        """Record topics just sent (topic -> detail) and forget topics that are over."""
        topics = sorted({*sent, *forget})
        if not topics:
            return
        rows = [
            {"target": target, "job": job, "topic": t, "detail": d, "sent_at": self._now()}
            for t, d in sent.items()
        ]
        mine = sa.and_(notices.c.target == target, notices.c.job == job)
        with self._write("record the notices sent") as conn:
            conn.execute(sa.delete(notices).where(mine, notices.c.topic.in_(topics)))
            if rows:
                conn.execute(sa.insert(notices), rows)
