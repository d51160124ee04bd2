"""The one moto-server helper: moto's own server (its DynamoDB atomic) for the demo and the tests,
bench's counting server (bench/countingmoto.py) through the same class."""

import concurrent.futures
import threading
import urllib.request
from typing import Any

import boto3
import pytest

from bench.countingmoto import CountingMoto
from s3fanout.counts import Counts
from s3fanout.jobrecord import NewJob, ensure_local_table
from s3fanout.motoserver import EmbeddedMoto, atomic_dynamodb


def test_a_server_that_exits_is_reported_with_its_status():
    server = EmbeddedMoto(server=["-c", "import sys; sys.exit(3)"])
    with pytest.raises(RuntimeError, match="exited with status 3"):
        server.start()


def test_a_server_not_started_has_no_process():
    with pytest.raises(RuntimeError, match="not started"):
        EmbeddedMoto().pid  # noqa: B018 - the property raises


def test_the_counting_server_serves_moto_and_counts_by_operation():
    with CountingMoto() as server:
        s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1")
        server.reset_counts()
        s3.create_bucket(Bucket="counted")
        s3.put_object(Bucket="counted", Key="a", Body=b"x")
        s3.list_objects_v2(Bucket="counted")
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket="counted", Key="missing")
        counts = server.counts()
        assert counts["requests"] == {"s3:CreateBucket": 1, "s3:PutObject": 1, "s3:ListObjectsV2": 1, "s3:HeadObject": 1}
        assert counts["errors"] == {"s3:HeadObject 404": 1}
        assert server.cpu_seconds() > 0
        server.reset_counts()
        assert server.counts()["requests"] == {}
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url + "/moto-api/", timeout=2)


def test_the_counting_server_holds_listings_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import countingmoto

    held: list[float] = []
    monkeypatch.setattr(countingmoto.time, "sleep", held.append)
    middleware = countingmoto.CountingMiddleware(lambda environ, start_response: [b""], list_latency_s=0.25)
    for method, path, query in (("GET", "/b", "list-type=2"), ("PUT", "/b/k", ""), ("GET", "/b/k", ""), ("GET", "/b", "prefix=x")):
        middleware({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}, lambda *_: None)
    assert held == [0.25, 0.25]
    assert middleware.requests == {"s3:ListObjectsV2": 1, "s3:PutObject": 1, "s3:GetObject": 1, "s3:ListObjects": 1}


def test_dynamodb_requests_take_turns_and_others_do_not() -> None:
    """moto's DynamoDB loses writes made at once (atomic_dynamodb's docstring): the embedded
    server serves them one at a time, and S3 and SQS as they come."""
    inside = threading.Semaphore(0)
    release = threading.Event()
    entered: list[str] = []

    def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        entered.append(environ["HTTP_X_AMZ_TARGET"])
        inside.release()
        release.wait(timeout=10)
        return [b"done"]

    app = atomic_dynamodb(slow_app)
    calls = [{"HTTP_X_AMZ_TARGET": target} for target in ("DynamoDB_20120810.UpdateItem", "DynamoDB_20120810.TransactWriteItems", "AmazonSQS.SendMessage")]
    threads = [threading.Thread(target=app, args=(environ, lambda *_: None)) for environ in calls]
    for thread in threads:
        thread.start()
    # One DynamoDB request and the SQS one are in the app; the second DynamoDB request waits.
    assert inside.acquire(timeout=10) and inside.acquire(timeout=10)
    assert not inside.acquire(timeout=0.2)
    assert "AmazonSQS.SendMessage" in entered
    assert len([target for target in entered if target.startswith("DynamoDB_")]) == 1
    release.set()
    assert inside.acquire(timeout=10)
    for thread in threads:
        thread.join(timeout=10)
    assert len(entered) == 3


def test_job_record_settles_from_many_threads_all_count_on_the_embedded_server(moto_server: EmbeddedMoto) -> None:
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_server.url, region_name="us-east-1")
    table = ensure_local_table(dynamodb, name="settle-race")
    table.create(NewJob("race", "src", "dst", "", "copy", list_open=0))

    def settle(number: int) -> None:
        table.settle_jobs(f"message-{number}", "copy", {"race": Counts(objects_copied=1)})
        if number % 4 == 0:  # a second delivery: its transaction fails, and must undo nothing else
            table.settle_jobs(f"message-{number}", "copy", {"race": Counts(objects_copied=1)})

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(settle, range(200)))
    record = table.get("race")
    assert record is not None
    assert (record.counts.objects_copied, record.copy_open) == (200, -200)
