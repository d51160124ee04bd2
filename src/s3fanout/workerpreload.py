"""What local mode's fork server imports once, before it forks any worker (local.py): every module
the two handlers need but ``s3fanout.handling`` and the handler modules themselves, and botocore's
models of S3, SQS and DynamoDB. A worker forked from it starts in milliseconds instead of spending
most of a second importing boto3 and Powertools and reading models, and the imports happen once per
run instead of once per worker.

Nothing imported here may read the job's environment when imported: the fork server starts before
the job's queues exist, and a worker sets its environment after the fork. That is why
``s3fanout.handling`` (whose Powertools logger and metrics read theirs when created, and keep the
stream that is ``sys.stdout`` then) and the handler modules are left to the worker; they import in
about 10 ms once these are loaded (a test holds the list to that).
"""

from __future__ import annotations

import collections.abc
import contextlib
import gc
import importlib
import sys

MODULES = (
    "boto3",
    "botocore.exceptions",
    "aws_lambda_powertools",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.batch.types",
    "aws_lambda_powertools.utilities.data_classes.sqs_event",
    "aws_lambda_powertools.utilities.typing",
    "s3fanout.clients",
    "s3fanout.completion",
    "s3fanout.copying.batch",
    "s3fanout.copying.limit",
    "s3fanout.copying.multipart",
    "s3fanout.copying.stream",
    "s3fanout.deadletter",
    "s3fanout.eventsource",
    "s3fanout.guard",
    "s3fanout.jobrecord",
    "s3fanout.lister",
    "s3fanout.manifest_listing",
    "s3fanout.outbox",
    "s3fanout.progress_events",
    "s3fanout.version_lister",
)


def preload() -> None:
    """Import MODULES and read the models. Nothing may stop the fork server: a module that fails
    to import here is imported by each worker, which logs why it fails."""
    # botocore imports pyOpenSSL (and with it cryptography, 60 ms) wherever it is installed, only
    # to take urllib3's own SSLContext under another name; a module that is None in sys.modules
    # fails to import, and botocore then takes it from urllib3 directly. (The CRT stays: workers
    # compute CRC32C and CRC64NVME checksums with it, and `aws login` credentials need it.)
    sys.modules.setdefault("urllib3.contrib.pyopenssl", None)  # type: ignore[arg-type]  # how Python marks a module not to import
    for name in MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from s3fanout import clients

        clients.load_models()
    # botocore builds each request's headers from a list of pairs, and MutableMapping.update asks
    # whether a list is a Mapping: the first time, that walks every Mapping subclass loaded, which
    # in a freshly forked worker cost about 50 ms (each object it touches is a page copied). Asked
    # here once, the answer is cached before the fork.
    isinstance([], collections.abc.Mapping)
    # Everything loaded so far lives as long as the workers: out of the collector's reach, a
    # worker's collections do not walk it, touching (and so copying) every page of it. A worker
    # took 80 ms more to its first request without this, most of it in its first collection.
    gc.freeze()


preload()
