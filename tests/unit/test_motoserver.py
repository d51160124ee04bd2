"""The one moto-server helper: moto's own server for the demo and the tests, bench's counting
server (bench/countingmoto.py) through the same class."""

import urllib.request

import boto3
import pytest

from bench.countingmoto import CountingMoto
from s3fanout.motoserver import EmbeddedMoto


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
