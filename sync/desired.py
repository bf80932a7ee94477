"""What a job's source says TimeTrack should hold: the source read whole, then mapped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sync.config import JobConfig
from sync.mapping import Mapper
from sync.model import DesiredUser, Skipped
from sync.sources import build_source


@dataclass(frozen=True, slots=True)
class DesiredRead:
    """One complete read of a job's source and its mapped result."""

    source: str  # the source described for people (file, or URL and base DN)
    records: int  # records the source yielded, valid or not
    desired: list[DesiredUser]
    skipped: list[Skipped]


def read_desired(job: JobConfig, *, today: date) -> DesiredRead:
    """Read `job`'s source completely and map every record as of `today` (no partial read)."""
    mapper = Mapper(job.mapping, job.active_expression(), job.match_on)
    source = build_source(job.source, mapper.referenced_names())
    people = list(source.read())
    desired, skipped = mapper.map_all(people, today=today)
    return DesiredRead(source.describe(), len(people), desired, skipped)
