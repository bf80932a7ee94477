"""An admin at work while a client pages: users deleted or created between two pages.

TimeTrack's listing is offset paging over the users in id order, so it promises no snapshot:
deleting a user from a page already served moves every later user one place back, and the
first user of the next page is then served by no page at all. `after_page` stages exactly
that, for tests of the client's and the engine's answer to it (`sync.listing`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sync.timetrack.emulator.options import EmulatorOptions
from sync.timetrack.emulator.store import UserStore


def after_page(
    store: UserStore, options: EmulatorOptions, page: Sequence[dict[str, Any]], limit: int
) -> None:
    """After a full page of an unfiltered listing: spend one of each change budget.

    The deleted user is the page's first (so the next page skips one); the created one gets
    the next id (so it is listed last). Both happen behind the API: no audit record.
    """
    if limit == 0 or len(page) < limit:
        return  # the last page: nothing later can shift
    if options.delete_during_listing > 0 and store.get(page[0]["id"]) is not None:
        options.delete_during_listing -= 1
        store.delete(page[0]["id"])
    if options.create_during_listing > 0:
        options.create_during_listing -= 1
        _create(store)


def _create(store: UserStore) -> None:
    """A user the way an admin adds one in the web UI, under the first free admin.N username."""
    for n in itertools.count(1):
        username = f"admin.created{n}"
        try:
            store.add_user(
                username=username,
                firstName="Ada",
                lastName="Admin",
                email=f"{username}@example.com",
                personalNumber=f"ADM-{n}",
            )
        except ValueError:
            continue  # taken (by an earlier one): the next name
        return
