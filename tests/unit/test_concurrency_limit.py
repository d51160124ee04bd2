import threading
import time

from botocore.exceptions import ClientError

from s3fanout.copier import ConcurrencyLimit, copy_batch
from s3fanout.messages import CopyBatch, CopyItem


def test_throttling_halves_the_limit_down_to_one():
    limit = ConcurrencyLimit(16)
    for expected in (8, 4, 2, 1, 1):
        limit.record(throttled=True)
        assert limit.limit == expected


def test_successes_grow_the_limit_back_by_one_up_to_the_maximum():
    limit = ConcurrencyLimit(4)
    limit.record(throttled=True)
    limit.record(throttled=True)
    assert limit.limit == 1
    grown = []
    for _ in range(20):
        limit.record(throttled=False)
        grown.append(limit.limit)
    assert grown[:6] == [2, 2, 3, 3, 3, 4] and max(grown) == 4


class InFlight:
    """Counts how many calls overlap."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def test_slots_never_exceed_the_limit():
    limit = ConcurrencyLimit(3)
    overlap = InFlight()

    def work():
        with limit.slot(), overlap:
            time.sleep(0.01)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlap.peak == 3


class ThrottlingS3:
    """Answers SlowDown to the first ``throttle`` copies, then copies slowly, counting overlap."""

    def __init__(self, throttle: int) -> None:
        self.throttle = throttle
        self.lock = threading.Lock()
        self.overlap = InFlight()
        self.peak_after_throttling = 0

    def copy_object(self, **request):
        with self.lock:
            self.throttle -= 1
            throttled = self.throttle >= 0
        if throttled:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "CopyObject")
        with self.overlap:
            self.peak_after_throttling = max(self.peak_after_throttling, self.overlap.now)
            time.sleep(0.005)


def test_a_throttled_batch_slows_its_own_concurrency():
    batch = CopyBatch("job", "src", "dst", tuple(CopyItem(f"k{i:03d}", 1) for i in range(100)))
    s3 = ThrottlingS3(throttle=4)
    limit = ConcurrencyLimit(16)

    outcome = copy_batch(batch, s3=s3, limit=limit)

    assert outcome.throttled == 4 and len(outcome.retry) == 4 and len(outcome.copied) == 96
    # Four halvings from 16 leave 1; the copies after them ran far below the maximum.
    assert s3.peak_after_throttling < 16
    assert limit.limit < 16


def test_throttling_that_botocore_retries_by_itself_lowers_the_limit():
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    limit = ConcurrencyLimit(16)
    limit.watch(s3)
    limit.watch(s3)  # registering twice must not count twice

    def attempt(status: int, parsed: dict) -> None:
        http = type("Http", (), {"status_code": status, "headers": {}})()
        s3.meta.events.emit(
            "needs-retry.s3.CopyObject",
            response=(http, parsed),
            endpoint=None,
            operation=s3.meta.service_model.operation_model("CopyObject"),
            attempts=1,
            caught_exception=None,
            request_dict={"context": {}},
        )

    attempt(503, {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}})
    attempt(200, {"ResponseMetadata": {"HTTPStatusCode": 200}})

    assert limit.throttled_attempts == 1 and limit.limit == 8
