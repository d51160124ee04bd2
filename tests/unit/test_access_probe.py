import pytest
from botocore.exceptions import ClientError

from s3fanout.job import JobError, JobSpec
from s3fanout.preflight import WRITE_PROBE_KEY, check_access

SPEC = JobSpec("src-bucket", "dst-bucket", "data/")


def error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "op")


# The write probe's answer when writing is allowed: 404, the key it names does not exist.
WRITE_ALLOWED = error(404, "NoSuchKey")


class ProbedS3:
    """Answers each probe as told; records what was called."""

    def __init__(self, list_answer=None, head_answer=None, put_answer=WRITE_ALLOWED, keys=("data/a",)) -> None:
        self.answers = {"list_objects_v2": list_answer, "head_object": head_answer, "put_object": put_answer}
        self.keys = keys
        self.calls: list[tuple[str, dict]] = []

    def _answer(self, name, request, result):
        self.calls.append((name, request))
        if isinstance(self.answers.get(name), Exception):
            raise self.answers[name]
        return result

    def list_objects_v2(self, **request):
        return self._answer("list_objects_v2", request, {"Contents": [{"Key": k} for k in self.keys]})

    def head_object(self, **request):
        return self._answer("head_object", request, {})

    def put_object(self, **request):
        return self._answer("put_object", request, {"ETag": '"x"'})

    def delete_object(self, **request):
        return self._answer("delete_object", request, {})


@pytest.mark.parametrize("put_answer", [error(404, "NoSuchKey"), error(412, "PreconditionFailed")])
def test_allowed_access_passes_and_writes_nothing(put_answer):
    s3 = ProbedS3(put_answer=put_answer)
    check_access(s3, SPEC)
    names = [name for name, _ in s3.calls]
    assert names == ["list_objects_v2", "head_object", "put_object"]
    list_request, head_request, put_request = (request for _, request in s3.calls)
    assert list_request == {"Bucket": "src-bucket", "Prefix": "data/", "MaxKeys": 1}
    assert head_request == {"Bucket": "src-bucket", "Key": "data/a"}
    assert put_request["Bucket"] == "dst-bucket" and put_request["Key"] == WRITE_PROBE_KEY and put_request["IfMatch"]


@pytest.mark.parametrize(
    "probes, permission",
    [
        ({"list_answer": error(403, "AccessDenied")}, "list the source bucket 'src-bucket'"),
        ({"head_answer": error(403, "403")}, "read objects of the source bucket 'src-bucket'"),
        ({"put_answer": error(403, "AccessDenied")}, "write to the destination bucket 'dst-bucket'"),
    ],
)
def test_denied_access_is_one_clear_error(probes, permission):
    with pytest.raises(JobError, match=f"no permission to {permission}"):
        check_access(ProbedS3(**probes), SPEC)


def test_an_empty_source_skips_the_read_probe():
    s3 = ProbedS3(keys=())
    check_access(s3, SPEC)
    assert [name for name, _ in s3.calls] == ["list_objects_v2", "put_object"]


def test_a_store_that_ignores_if_match_gets_its_probe_object_removed():
    s3 = ProbedS3(put_answer=None)
    check_access(s3, SPEC)
    assert s3.calls[-1] == ("delete_object", {"Bucket": "dst-bucket", "Key": WRITE_PROBE_KEY})


def test_other_errors_are_reported_not_ignored():
    with pytest.raises(JobError, match="cannot check permission to list"):
        check_access(ProbedS3(list_answer=error(500, "InternalError")), SPEC)
