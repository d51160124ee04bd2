import threading
from contextlib import contextmanager

from botocore.exceptions import ClientError

from s3fanout.copying.batch import copy_batch
from s3fanout.copying.limit import ConcurrencyLimit
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


WAIT_SECONDS = 10  # for a thread that never comes: a failure, never the pace of a passing test


class Copies:
    """Calls that each take a slot of the limit and then wait, inside it, until the test lets one
    finish: the test sees every state the limit allows, without timing anything."""

    def __init__(self, limit: ConcurrencyLimit) -> None:
        self.limit = limit
        self.changed = threading.Condition()
        self.started = self.finished = self.in_flight = self.peak = 0
        self.may_finish = 0

    def run(self) -> None:
        with self.limit.slot(), self.changed:
            self.started += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.changed.notify_all()
            self.changed.wait_for(lambda: self.may_finish > self.finished, timeout=WAIT_SECONDS)
            self.finished += 1
            self.in_flight -= 1
            self.changed.notify_all()

    def wait_until(self, condition, what: str) -> None:
        with self.changed:
            assert self.changed.wait_for(condition, timeout=WAIT_SECONDS), f"never {what}: {vars(self)}"

    def finish_one(self) -> None:
        with self.changed:
            self.may_finish += 1
            self.changed.notify_all()


def test_slots_never_exceed_the_limit():
    copies = Copies(ConcurrencyLimit(3))
    threads = [threading.Thread(target=copies.run) for _ in range(12)]
    for thread in threads:
        thread.start()
    for finished in range(12):
        # Once one copy has finished, exactly one more may start, and no other: three in flight
        # while the rest wait, fewer only when none is left waiting.
        copies.wait_until(lambda done=finished: copies.finished == done and copies.started == min(12, 3 + done), f"{3 + finished} started")
        assert copies.in_flight == min(3, 12 - finished)
        copies.finish_one()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS)
    assert copies.peak == 3 and copies.finished == 12


class ThrottlingS3:
    """Answers SlowDown to the first ``throttle`` copies; holds every other copy until the test lets
    one finish, counting how many are held at once."""

    def __init__(self, throttle: int) -> None:
        self.throttle = throttle
        self.changed = threading.Condition()
        self.held = self.peak_held = self.released = self.finished = 0

    def copy_object(self, **request):
        with self.changed:
            self.throttle -= 1
            if self.throttle >= 0:
                raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "CopyObject")
            self.held += 1
            self.peak_held = max(self.peak_held, self.held)
            self.changed.notify_all()
            self.changed.wait_for(lambda: self.released > self.finished, timeout=WAIT_SECONDS)
            self.finished += 1
            self.held -= 1
            self.changed.notify_all()
            return {"CopyObjectResult": {}}


class WatchedLimit(ConcurrencyLimit):
    """A ConcurrencyLimit that counts the copies waiting for a slot and the slots given back."""

    def __init__(self, maximum: int, s3: ThrottlingS3) -> None:
        super().__init__(maximum)
        self.s3 = s3
        self.waiting = self.done = 0

    @contextmanager
    def slot(self):
        with self.s3.changed:
            self.waiting += 1
            self.s3.changed.notify_all()
        with super().slot():
            with self.s3.changed:
                self.waiting -= 1
            try:
                yield
            finally:
                with self.s3.changed:
                    self.done += 1
                    self.s3.changed.notify_all()


def test_a_throttled_batch_slows_its_own_concurrency():
    keys = 100
    batch = CopyBatch("job", "src", "dst", tuple(CopyItem(f"k{i:03d}", 1) for i in range(keys)))
    s3 = ThrottlingS3(throttle=4)
    limit = WatchedLimit(16, s3)
    outcomes = []
    copier = threading.Thread(target=lambda: outcomes.append(copy_batch(batch, s3=s3, limit=limit)))
    copier.start()

    def settled() -> bool:
        # Every copier thread with a key to copy either holds a copy or waits for a slot.
        return s3.held + limit.waiting == min(16, keys - limit.done)

    limits = []
    while limit.done < keys:
        with s3.changed:
            assert s3.changed.wait_for(settled, timeout=WAIT_SECONDS), f"never settled: {vars(s3)} {vars(limit)}"
            limits.append(limit.limit)
            s3.released += 1
            s3.changed.notify_all()
            s3.changed.wait_for(lambda: limit.done == keys or s3.finished == s3.released, timeout=WAIT_SECONDS)
    copier.join(timeout=WAIT_SECONDS)

    [outcome] = outcomes
    assert outcome.throttled == 4 and len(outcome.retry) == 4 and len(outcome.copied) == 96
    # Four halvings from 16 left 1 before the first copy finished; the copies already started
    # finished, but no new one started while the limit was below those still in flight.
    assert limits[0] == 1
    assert s3.peak_held < 16
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
