"""Small hand-written stand-ins for the boto3 S3 and SQS clients: no moto, no network.

Each fake implements only the calls s3fanout makes, with the parameters it passes, and records
every request so tests can assert on exactly what was asked.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from s3fanout.messages import MAX_MESSAGE_BYTES
from s3fanout.signing import MessageKey

# The message key of the code under test in unit tests: what it sends is sealed with it.
KEY = MessageKey(b"unit-test-key")


def client_error(code: str | None, message: str = "", status: int = 400, operation: str = "CopyObject") -> ClientError:
    error: dict[str, str] = {"Message": message} if message else {}
    if code is not None:
        error["Code"] = code
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


class FakeS3:
    """Buckets of sorted keys with ListObjectsV2 paging, HeadObject, and a CopyObject that fails
    chosen keys.

    ``keys`` fill the bucket "src" (the tests' source); ``buckets`` fill others; any other bucket
    lists empty. ``max_page`` caps a page below MaxKeys, as S3 itself may; ``failures`` maps a key
    to the exception CopyObject raises for it (on every call).
    """

    def __init__(
        self,
        keys: Iterable[str] = (),
        *,
        max_page: int = 1000,
        failures: Mapping[str, Exception] | None = None,
        buckets: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.buckets = {"src": sorted(set(keys))} | {name: sorted(set(found)) for name, found in (buckets or {}).items()}
        self.keys = self.buckets["src"]
        self.max_page = max_page
        self.failures = dict(failures or {})
        self.list_requests: list[dict[str, Any]] = []
        self.copy_requests: list[dict[str, Any]] = []
        self.delete_requests: list[dict[str, Any]] = []
        self.head_requests: list[dict[str, Any]] = []
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def size_of(key: str) -> int:
        return len(key.encode("utf-8"))

    @staticmethod
    def etag_of(key: str) -> str:
        return f'"etag-{len(key)}"'

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "", MaxKeys: int = 1000, StartAfter: str | None = None, ContinuationToken: str | None = None) -> dict[str, Any]:
        self.list_requests.append(
            {"Bucket": Bucket, "Prefix": Prefix, "MaxKeys": MaxKeys, "StartAfter": StartAfter, "ContinuationToken": ContinuationToken}
        )
        # Like S3, a continuation token takes precedence over StartAfter.
        start = self._tokens[ContinuationToken] if ContinuationToken is not None else StartAfter
        matching = [k for k in self.buckets.get(Bucket, []) if k.startswith(Prefix) and (start is None or k > start)]
        page = matching[: min(MaxKeys, self.max_page)]
        response: dict[str, Any] = {"KeyCount": len(page), "IsTruncated": len(matching) > len(page)}
        if page:
            response["Contents"] = [{"Key": k, "Size": self.size_of(k), "ETag": self.etag_of(k)} for k in page]
        if response["IsTruncated"]:
            token = f"opaque-{len(self._tokens)}"
            self._tokens[token] = page[-1]
            response["NextContinuationToken"] = token
        return response

    def head_object(self, *, Bucket: str, Key: str, IfMatch: str | None = None, ChecksumMode: str | None = None) -> dict[str, Any]:
        # IfMatch and ChecksumMode are accepted (a multipart copy sends them) and ignored.
        with self._lock:
            self.head_requests.append({"Bucket": Bucket, "Key": Key})
        if Key not in self.buckets.get(Bucket, []):
            # What botocore makes of S3's bodiless 404 answer to a HEAD.
            raise client_error("404", "Not Found", 404, "HeadObject")
        return {"ContentLength": self.size_of(Key), "ETag": self.etag_of(Key)}

    def copy_object(self, **request: Any) -> dict[str, Any]:
        with self._lock:
            self.copy_requests.append(request)
        error = self.failures.get(request["Key"])
        if error is not None:
            raise error
        return {"CopyObjectResult": {"ETag": '"copied"'}}

    def delete_objects(self, *, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        keys = [entry["Key"] for entry in Delete["Objects"]]
        assert len(keys) <= 1000, "DeleteObjects takes at most 1,000 keys"
        self.delete_requests.append({"Bucket": Bucket, "Keys": keys})
        self.buckets[Bucket] = [k for k in self.buckets.get(Bucket, []) if k not in set(keys)]
        return {}

    def source_list_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.list_requests if r["Bucket"] == "src"]

    def copied_keys(self) -> list[str]:
        return [r["Key"] for r in self.copy_requests]


class FakeSQS:
    """SendMessageBatch with scripted entry failures, plus receive/visibility for peeking.

    ``fail_times`` maps a body to how many times its entry fails (as a service fault) before it is
    accepted; ``sender_faults`` are bodies always rejected as the sender's fault.
    """

    def __init__(self, *, fail_times: Mapping[str, int] | None = None, sender_faults: Iterable[str] = ()) -> None:
        self.fail_times = dict(fail_times or {})
        self.sender_faults = set(sender_faults)
        self.batch_requests: list[dict[str, Any]] = []
        self.accepted: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        assert 1 <= len(Entries) <= 10, "SQS takes 1 to 10 entries per batch"
        assert len({e["Id"] for e in Entries}) == len(Entries), "entry ids must be unique"
        assert sum(len(e["MessageBody"].encode()) for e in Entries) <= MAX_MESSAGE_BYTES
        self.batch_requests.append({"QueueUrl": QueueUrl, "Entries": [dict(e) for e in Entries]})
        successful, failed = [], []
        for entry in Entries:
            body = entry["MessageBody"]
            if body in self.sender_faults:
                failed.append({"Id": entry["Id"], "SenderFault": True, "Code": "InvalidParameterValue", "Message": "bad"})
            elif self.fail_times.get(body, 0) > 0:
                self.fail_times[body] -= 1
                failed.append({"Id": entry["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"})
            else:
                self.accepted[QueueUrl].append(entry)
                successful.append({"Id": entry["Id"], "MessageId": f"m-{len(self.accepted[QueueUrl])}"})
        response: dict[str, Any] = {"Successful": successful}
        if failed:
            response["Failed"] = failed
        return response

    def bodies(self, queue_url: str) -> list[str]:
        return [e["MessageBody"] for e in self.accepted[queue_url]]

    def delays(self, queue_url: str) -> list[int]:
        return [e.get("DelaySeconds", 0) for e in self.accepted[queue_url]]


class ScriptedReceiveSQS:
    """ReceiveMessage answers from a script: one list of message ids per call, then empty.

    Every delivery gets a fresh receipt handle, as SQS gives one per receive.
    """

    def __init__(self, bodies: Mapping[str, str], script: list[list[str]]) -> None:
        self.bodies = dict(bodies)
        self.script = list(script)
        self.receive_requests: list[dict[str, Any]] = []
        self.handles_given: list[str] = []
        self.visibility_requests: list[dict[str, Any]] = []

    def receive_message(self, **request: Any) -> dict[str, Any]:
        self.receive_requests.append(request)
        ids = self.script.pop(0) if self.script else []
        assert len(ids) <= request["MaxNumberOfMessages"]
        messages = []
        for message_id in ids:
            handle = f"rh-{message_id}-{len(self.handles_given)}"
            self.handles_given.append(handle)
            messages.append({"MessageId": message_id, "ReceiptHandle": handle, "Body": self.bodies[message_id], "Attributes": {}})
        return {"Messages": messages} if messages else {}

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.visibility_requests.append({"QueueUrl": QueueUrl, "Entries": Entries})
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}
