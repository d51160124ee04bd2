"""The S3 error taxonomy: every failed S3 call becomes an S3Failure with a code, a message a person
can act on, and a verdict (permanent, or worth another try). The copier, the multipart path, the
lister and the CLI's checks all decide by it.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

# Errors that will not go away by trying again: the key goes to the dead-letter queue at once.
PERMANENT_ERROR_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "EntityTooLarge",
        "InvalidArgument",
        "InvalidBucketName",
        "InvalidObjectState",
        "InvalidRequest",
        "KeyTooLongError",
        "MethodNotAllowed",
        "NoSuchBucket",
        "NoSuchKey",
        # A version a message names that the source no longer has (--all-versions, --as-of).
        "NoSuchVersion",
        "NotFound",
        # CopyObject's answer for a source archived in Glacier (InvalidObjectState elsewhere).
        "ObjectNotInActiveTierError",
        "PreconditionFailed",
        "403",
        "404",
        "412",
    }
)


# Answers that mean "too fast": S3's SlowDown, and what other S3-compatible stores say instead.
THROTTLING_CODES = frozenset({"SlowDown", "503", "ServiceUnavailable", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "TooManyRequestsException"})


class S3Failure(Exception):
    """An S3 call that failed, reduced to what a person needs: a code, a message, a verdict."""

    def __init__(self, code: str, message: str, permanent: bool) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.permanent = permanent

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ListingError(S3Failure):
    """A listing that breaks a rule the copy and delete passes rely on: keys in strictly increasing
    UTF-8 binary order, each after where its page was asked to start, all under the prefix, and a
    continuation token that moves on; or a key a listing left out that the bucket still has.

    Permanent: listing again would miss the same keys or loop again. A task failing with it goes
    to the list DLQ with this code, and as a failure of its job it blocks the job's delete pass.
    """

    def __init__(self, message: str) -> None:
        super().__init__("ListingError", message, permanent=True)


# HeadObject of an object encrypted with a customer-provided key answers a bare 400 (a HEAD has no
# error body), and CopyObject and UploadPartCopy of one answer InvalidRequest with this message.
# Neither changes by asking again: without the key, no server-side copy can read the object.
_SSE_C_HEAD = "Bad Request: the object is probably encrypted with a customer-provided key (SSE-C), which a server-side copy cannot read without the key"
_SSE_C_COPY = "The source is encrypted with a customer-provided key (SSE-C), which a server-side copy cannot read without the key."
# What S3 says then: "The object was stored using a form of Server Side Encryption. The correct
# parameters must be provided to retrieve the object."
_SSE_C_COPY_SAYS = "stored using a form of server side encryption"


def describe_error(error: Exception) -> S3Failure:
    """Translate a botocore exception into an S3Failure; unknown errors count as transient."""
    if isinstance(error, S3Failure):
        return error
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown"))
        message = str(details.get("Message") or error)
        operation = getattr(error, "operation_name", "")
        if code == "400" and operation == "HeadObject":
            return S3Failure(code, _SSE_C_HEAD, permanent=True)
        if code == "InvalidRequest" and operation in ("CopyObject", "UploadPartCopy") and _SSE_C_COPY_SAYS in message.lower():
            return S3Failure(code, f"{message} {_SSE_C_COPY}", permanent=True)
        return S3Failure(code, message, code in PERMANENT_ERROR_CODES)
    if isinstance(error, BotoCoreError):
        return S3Failure(type(error).__name__, str(error), False)
    return S3Failure(type(error).__name__, str(error) or repr(error), False)
