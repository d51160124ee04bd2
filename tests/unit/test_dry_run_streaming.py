"""What the dry run says about copies streamed through this machine: who bills the data transfer
out of the source, and which requests the estimate leaves to another provider."""

from __future__ import annotations

from s3fanout.copying.stream import StreamSettings
from s3fanout.estimate import JobPlan, Prices
from seed.dry_run import Streaming

PLAN = JobPlan(to_copy=3, bytes_to_copy=3 * 1024 * 1024, multipart_uploads=1, upload_parts=2)
R2 = "https://account.r2.cloudflarestorage.com"
AWS = "https://s3.eu-west-1.amazonaws.com"


def streaming(source: str, dest: str, source_on_aws: bool, dest_on_aws: bool) -> Streaming:
    return Streaming(source, dest, "src-profile", None, source_on_aws, dest_on_aws, StreamSettings())


def test_a_source_on_aws_read_with_other_credentials_is_priced_at_the_internet_rate() -> None:
    notes = streaming(AWS, R2, True, False).notes(PLAN, Prices(transfer_out_per_gb=0.085))

    assert notes[0].startswith("data transfer out of the source provider is billed by that provider: here AWS, 3.0 MiB")
    assert "$0.085/GB" in notes[0]
    assert notes[1] == f"requests to the destination ({R2}) are billed by that provider; not in this estimate"


def test_a_source_elsewhere_is_named_and_not_priced() -> None:
    notes = streaming(R2, AWS, False, True).notes(PLAN, Prices())

    assert notes[0] == f"data transfer out of the source provider is billed by that provider: 3.0 MiB would leave {R2}, at its rates; not in this estimate"
    assert notes[1] == f"requests to the source ({R2}) are billed by that provider; not in this estimate"


def test_two_aws_accounts_leave_only_the_transfer_and_the_local_queues_to_say() -> None:
    side = streaming(AWS, AWS, True, True)
    notes = side.notes(PLAN, Prices())

    assert len(notes) == 2 and "here AWS" in notes[0] and "queues" in notes[1]
    assert side.source == f"{AWS} as profile src-profile" and side.destination == AWS
    assert side.to_dict(PLAN, Prices())["upload_parts"] == 2
