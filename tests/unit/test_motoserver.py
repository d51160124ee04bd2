"""The one moto-server helper: moto's own server (its DynamoDB atomic) for the demo and the tests,
bench's counting server (bench/countingmoto.py) through the same class."""

import concurrent.futures
import threading
import urllib.request
from typing import Any

import boto3
import pytest

from bench.countingmoto import CountingMoto
from s3fanout import motoserver
from s3fanout.counts import Counts
from s3fanout.jobrecord import NewJob, ensure_local_table
from s3fanout.motoserver import WARM_SERVICES, EmbeddedMoto, atomic_dynamodb, launch_early, services_without_endpoint, take_early, warm


def test_a_server_that_exits_is_reported_with_its_status():
    server = EmbeddedMoto(server=["-c", "import sys; sys.exit(3)"])
    with pytest.raises(RuntimeError, match="exited with status 3"):
        server.start()


def test_a_server_not_started_has_no_process():
    with pytest.raises(RuntimeError, match="not started"):
        EmbeddedMoto().pid  # noqa: B018 - the property raises


def test_a_launched_server_answers_once_waited_for_and_stops():
    server = EmbeddedMoto().launch()
    try:
        assert server.wait_ready() is server
        with urllib.request.urlopen(f"{server.url}/moto-api/", timeout=5) as answer:
            assert answer.status == 200
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{server.url}/moto-api/", timeout=2)


def test_a_server_launched_early_is_taken_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(motoserver, "_launched_early", [])
    launch_early()
    server = take_early()
    assert server is not None
    try:
        assert take_early() is None
        server.wait_ready()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("configured", "missing"),
    [
        ({}, ["SQS", "DYNAMODB"]),
        ({"AWS_ENDPOINT_URL_S3": "http://s3.example"}, ["SQS", "DYNAMODB"]),
        ({"AWS_ENDPOINT_URL_SQS": "http://sqs.example"}, ["DYNAMODB"]),
        ({"AWS_ENDPOINT_URL": "http://everything.example"}, []),
    ],
)
def test_local_mode_needs_a_server_for_the_services_no_endpoint_names(monkeypatch: pytest.MonkeyPatch, configured: dict[str, str], missing: list[str]):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    for name, value in configured.items():
        monkeypatch.setenv(name, value)
    assert services_without_endpoint() == missing


def test_warming_makes_the_apps_that_requests_of_those_services_then_use():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    warm(app)

    assert set(WARM_SERVICES) <= set(app.app_instances)
    scope = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"
    for service, target in (("sqs", "AmazonSQS.ListQueues"), ("dynamodb", "DynamoDB_20120810.ListTables")):
        request = {"PATH_INFO": "/", "REQUEST_METHOD": "POST", "HTTP_HOST": "127.0.0.1:5000", "HTTP_X_AMZ_TARGET": target, "HTTP_AUTHORIZATION": scope.format(service)}
        assert app.get_application(request) is app.app_instances[service]


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
        # Each operation's CPU, the app's alone: together no more than the whole process's.
        assert set(counts["cpu"]) == set(counts["requests"]) and 0 < sum(counts["cpu"].values()) <= server.cpu_seconds()
        server.reset_counts()
        assert server.counts()["requests"] == {}
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url + "/moto-api/", timeout=2)


def test_the_counting_server_holds_listings_and_copies_as_long_as_it_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import countingmoto

    held: list[float] = []
    monkeypatch.setattr(countingmoto.time, "sleep", held.append)
    middleware = countingmoto.CountingMiddleware(lambda environ, start_response: [b""], list_latency_s=0.25, copy_latency_s=0.5)
    for method, path, query, copy_source in (
        ("GET", "/b", "list-type=2", None),
        ("PUT", "/b/k", "", None),
        ("GET", "/b/k", "", None),
        ("GET", "/b", "prefix=x", None),
        ("PUT", "/b/k", "", "/a/k"),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", "/a/k"),
        ("PUT", "/b/k", "partNumber=2&uploadId=u", None),
    ):
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query} | ({"HTTP_X_AMZ_COPY_SOURCE": copy_source} if copy_source else {})
        middleware(environ, lambda *_: None)
    assert held == [0.25, 0.25, 0.5, 0.5]
    assert middleware.requests == {
        "s3:ListObjectsV2": 1,
        "s3:PutObject": 1,
        "s3:GetObject": 1,
        "s3:ListObjects": 1,
        "s3:CopyObject": 1,
        "s3:UploadPartCopy": 1,
        "s3:UploadPart": 1,
    }


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
