"""When a local run asks its job record whether anything is still open (local.RecordLooks)."""

from s3fanout.local import RECORD_LOOK_FALLBACK_SECONDS, RecordLooks


def test_the_first_look_is_due_at_once() -> None:
    assert RecordLooks().due(now=0.0)


def test_no_look_before_the_workers_report_as_many_settles_as_were_open() -> None:
    looks = RecordLooks()
    looks.looked(now=10.0, open_messages=3)
    looks.note_reports(2)
    assert not looks.settled_enough() and not looks.due(now=10.5)  # the job cannot have drained yet
    looks.note_reports(1)
    assert looks.settled_enough() and looks.due(now=10.5)


def test_a_look_is_due_after_the_fallback_whatever_the_reports() -> None:
    # A message settled without a report (refused past its hop bound) must not hold the end back.
    looks = RecordLooks()
    looks.looked(now=10.0, open_messages=5)
    assert not looks.due(now=10.0 + RECORD_LOOK_FALLBACK_SECONDS * 0.9)
    assert looks.due(now=10.0 + RECORD_LOOK_FALLBACK_SECONDS)


def test_a_look_starts_the_count_again() -> None:
    looks = RecordLooks()
    looks.looked(now=0.0, open_messages=1)
    looks.note_reports(1)
    looks.looked(now=0.2, open_messages=4)  # the message settled had sent four more
    assert not looks.due(now=0.3)
