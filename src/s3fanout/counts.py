"""One vocabulary for what a job did: the counts listers and copiers produce, and that metrics,
progress events, local mode's totals and the job report all read by iterating over them.

A new count is one new field here: its CloudWatch metric is the field's name in CamelCase
(``keys_listed`` -> ``KeysListed``), in bytes when the name starts with ``bytes_``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields


@dataclass
class Counts:
    # Listers
    list_requests: int = 0  # ListObjectsV2 pages read, source and destination
    head_requests: int = 0  # HeadObject of manifest keys: a CSV manifest's sources, destinations not worth listing
    keys_listed: int = 0
    bytes_listed: int = 0
    keys_skipped: int = 0  # already identical in the destination
    bytes_skipped: int = 0
    orphans_found: int = 0  # destination keys not in the source
    objects_deleted: int = 0
    copy_batches_sent: int = 0
    ranges_handed_on: int = 0  # rest of a range re-queued near the timeout
    ranges_split_off: int = 0  # parts of a range given to other listers
    # Copiers
    objects_copied: int = 0
    bytes_copied: int = 0
    bytes_streamed: int = 0  # of those, read and uploaded through the copier (another endpoint or profile)
    keys_retried: int = 0  # re-queued after a transient error
    keys_failed: int = 0  # sent to the copy DLQ
    keys_throttled: int = 0  # failed with SlowDown after botocore's own retries
    throttled_attempts: int = 0  # every throttled request, botocore's retries included
    part_tasks_queued: int = 0
    part_tasks_dropped: int = 0
    # Either
    ranges_failed: int = 0  # list tasks sent to the list DLQ
    messages_dropped: int = 0  # messages of a cancelled job, dropped without work
    # Versions (--all-versions; an --as-of copy counts as an object copied)
    versions_listed: int = 0  # source versions and delete markers listed
    versions_skipped: int = 0  # of those, already copied to the destination by an earlier run
    versions_copied: int = 0  # object versions copied (each also counts as an object copied)
    delete_markers_written: int = 0  # delete markers reproduced in the destination

    def count_list_request(self) -> None:
        """One ListObjectsV2 request more (an ``on_request`` hook of listings)."""
        self.list_requests += 1

    def __iadd__(self, other: Counts) -> Counts:
        for name, value in other.items():
            setattr(self, name, getattr(self, name) + value)
        return self

    def __add__(self, other: Counts) -> Counts:
        total = Counts(**asdict(self))
        total += other
        return total

    def items(self) -> Iterator[tuple[str, int]]:
        for field in fields(self):
            yield field.name, getattr(self, field.name)

    def metrics(self) -> Iterator[tuple[str, bool, int]]:
        """(metric name, counts bytes, value) of every count that is not zero."""
        for name, value in self.items():
            if value:
                yield "".join(part.capitalize() for part in name.split("_")), name.startswith("bytes_"), value

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> Counts:
        known = {field.name for field in fields(cls)}
        return cls(**{name: int(value) for name, value in data.items() if name in known})
