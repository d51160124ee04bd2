"""Which handler drains which queue, with how many records per invocation: the one statement of
it, which local mode runs and a test checks against template.yaml's event sources."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Function:
    name: str  # the logical id in template.yaml
    handler: str  # "package.module.function", as template.yaml's Handler
    queue: str  # "list" or "copy" (QueueSet.main_queues)
    batch_size: int  # records per invocation (the event source's BatchSize default)

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


# One key range per invocation: a range can take minutes, and a failure retries only that range.
LISTER = Function("ListObjectsFunction", "list_objects.app.lambda_handler", "list", 1)
# Ten copy messages (of up to 100 keys each) per invocation; more would need a batching window.
COPIER = Function("CopyObjectsFunction", "copy_objects.app.lambda_handler", "copy", 10)
# Local workers poll in this order: copies before listings, so that a backlog of copies drains
# before more is listed.
FUNCTIONS = (COPIER, LISTER)
