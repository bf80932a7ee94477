"""Reads what `explain WHO` needs, read-only: the source, TimeTrack or the snapshot, the journal.

It plans exactly as a dry run does (`engine.plan_job`) but records no run, stores no snapshot
and takes no run lock: it can run beside the daemon.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sync.config import AppConfig, JobConfig
from sync.desired import read_desired
from sync.engine import plan_job
from sync.explain import Explanation, explain
from sync.guards import apply_delete_guards, check_invalid_share, check_source
from sync.listing import trusted_listing
from sync.runtime import open_client, open_store

JOURNAL_ROWS = 10


def explain_job(
    config: AppConfig, job: JobConfig, who: str, *, offline: bool, now: datetime | None = None
) -> Explanation:
    """Every step of `job`'s decision about `who`, as a dry run would make it now."""
    now = now or datetime.now(UTC)
    policy = job.policy.to_policy()
    with open_store(config) as store:
        links = store.load_links(job.name)
        if offline:
            snapshot = store.load_snapshot()
        else:
            with open_client(config) as client:
                listed = trusted_listing(client, store, links.values())
            snapshot = {user.id: user for user in listed}
        read = read_desired(job, today=now.date())
        unguarded = plan_job(job, read, snapshot, links, store, policy=policy, now=now)
        verdicts = (
            *check_source(read.records, store.last_successful_source_count(job.name), policy),
            check_invalid_share(read.records, len(read.skipped), policy),
        )
        guarded = apply_delete_guards(unguarded, len(links), policy, allow_mass_delete=False)
        result = explain(
            who,
            job=job.name,
            match_on=job.match_on,
            mapping=job.mapping,
            active=job.active_expression(),
            read=read,
            snapshot=snapshot,
            links=links,
            plan=replace(unguarded, guards=(*verdicts, *guarded.guards)),
        )
        rows = [
            row
            for name in sorted(result.usernames)
            for row in store.operations(username=name, limit=JOURNAL_ROWS)
            if row.job == job.name and row.match_key in result.keys
        ]
    unique = {row.id: row for row in rows}.values()
    result.journal = sorted(unique, key=lambda r: (r.created_at, r.id), reverse=True)[:JOURNAL_ROWS]
    return result
