"""bench/countinglocalstack.py: the counts LocalStack keeps for bench/peers, in countingmoto's
format; LocalStack itself only where its virtualenv exists (bench/peers --endpoints localstack
makes it, from PyPI, on first use)."""

from types import SimpleNamespace

import boto3
import pytest

from bench.countinglocalstack import BENCH_VENV, CountingLocalStack, Counts, operation_of


def test_counts_are_kept_by_operation_in_countingmotos_format():
    counts = Counts()
    counts.request("s3:CopyObject")
    counts.request("s3:CopyObject")
    counts.error("s3:HeadObject", 404)
    document = counts.document()
    assert (document["requests"], document["errors"]) == ({"s3:CopyObject": 2}, {"s3:HeadObject 404": 1})
    assert document["first"]["s3:CopyObject"] <= document["last"]["s3:CopyObject"]
    assert counts.document(reset=True) == counts.document() == {"requests": {}, "errors": {}, "first": {}, "last": {}}


def test_an_operation_is_named_as_localstack_parsed_it():
    parsed = SimpleNamespace(service=SimpleNamespace(service_name="sqs"), operation=SimpleNamespace(name="ReceiveMessage"))
    assert operation_of(parsed) == "sqs:ReceiveMessage"
    assert operation_of(SimpleNamespace(service=None, operation=None)) == "other:other"


@pytest.mark.skipif(not (BENCH_VENV / "bin" / "python").exists(), reason="no bench/.venv-localstack (bench/peers --endpoints localstack makes it)")
def test_localstack_serves_s3_and_sqs_and_counts_by_operation():
    with CountingLocalStack(BENCH_VENV / "bin" / "python") as server:
        s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=server.url, region_name="us-east-1")
        server.reset_counts()
        s3.create_bucket(Bucket="counted")
        s3.put_object(Bucket="counted", Key="a", Body=b"x")
        s3.copy_object(Bucket="counted", Key="b", CopySource={"Bucket": "counted", "Key": "a"})
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket="counted", Key="missing")
        queue = sqs.create_queue(QueueName="counted")["QueueUrl"]
        counts = server.counts()
        assert counts["requests"] == {"s3:CreateBucket": 1, "s3:PutObject": 1, "s3:CopyObject": 1, "s3:HeadObject": 1, "sqs:CreateQueue": 1}
        assert counts["errors"] == {"s3:HeadObject 404": 1}
        assert queue.startswith(server.url)  # no *.localstack.cloud host, which needs DNS
        assert server.cpu_seconds() > 0
