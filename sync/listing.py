"""A listing of TimeTrack's users the planner can trust: every absence that matters confirmed.

A paged listing is no snapshot: an admin who deletes a user while we page shifts every later
user one place back, so one is skipped. The planner treats an owned user the listing did not
return as gone (a create for its person, a stale link, a vanished leaver); so before it does,
`GET users/{id}` asks for each such user, and only for those (never one request per user):

- the users this job's links point to, and those of operations left `pending` in the journal
  (recovery judges a pending delete done when its user is absent), that the listing lacks;
- a pending create's username that no listed user holds (`find_user`), since recovery would
  otherwise mark it failed and the plan create the user a second time.

A user that answers is added to the listing as if listed; TimeTrack's JSON 404 confirms the
absence (`TimeTrackClient.confirm_user`). Any other answer (a proxy's page, a 5xx after every
retry) ends the run before anything is planned, so nothing is written. The asks run
concurrently, bounded by the client's `concurrency`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import structlog

from sync.model import Action, Link, TimeTrackUser
from sync.state.store import StateStore
from sync.timetrack.client import TimeTrackClient

log = structlog.get_logger(__name__)

# How many skipped ids a log line names (the count is always complete).
_SHOWN_IDS = 20


def trusted_listing(
    client: TimeTrackClient, store: StateStore, links: Iterable[Link]
) -> list[TimeTrackUser]:
    """TimeTrack's users as listed, plus the owned ones (of `links`) it skipped that exist."""
    listed = client.list_users()
    ids = {user.id for user in listed}
    names = {user.username.casefold() for user in listed}
    by_id, by_name = _expected(store, links)
    asks: list[Callable[[], TimeTrackUser | None]] = [
        partial(client.confirm_user, user_id) for user_id in sorted(by_id - ids)
    ]
    asks += [
        partial(client.find_user, name) for name in sorted(by_name) if name.casefold() not in names
    ]
    if not asks:
        return listed
    found = _ask_all(asks, client.settings.concurrency)
    skipped = list({user.id: user for user in found if user.id not in ids}.values())
    level = log.warning if skipped else log.info
    level(
        "listing_absences_confirmed",
        asked=len(asks),
        absent=len(asks) - len(found),
        skipped_by_listing=len(skipped),
        skipped_ids=[user.id for user in skipped][:_SHOWN_IDS],
    )
    return [*listed, *skipped]


def _expected(store: StateStore, links: Iterable[Link]) -> tuple[set[str], set[str]]:
    """Ids that must not be missing by mistake, and usernames of pending creates."""
    by_id = {link.tt_id for link in links}
    by_name: set[str] = set()
    for record in store.pending_operations():
        if record.action is Action.CREATE:
            by_name.add(record.username)
        elif record.tt_id:
            by_id.add(record.tt_id)
    return by_id, by_name


def _ask_all(
    asks: Iterable[Callable[[], TimeTrackUser | None]], concurrency: int
) -> list[TimeTrackUser]:
    """Run the asks in a pool of `concurrency` threads; the users they found, in ask order."""
    todo = list(asks)
    workers = max(1, min(concurrency, len(todo)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="confirm") as pool:
        # A copy of the context per call: run_id and job stay bound in the pool's log lines.
        futures = [pool.submit(contextvars.copy_context().run, ask) for ask in todo]
        try:
            answers = [future.result() for future in futures]
        except BaseException:
            pool.shutdown(cancel_futures=True)  # the run ends: send no more of the asks
            raise
    return [user for user in answers if user is not None]
