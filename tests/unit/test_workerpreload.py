"""What local mode's fork server imports before it forks the workers (s3fanout/workerpreload.py)."""

import ast
import importlib.util
import os
import subprocess
import sys

from s3fanout.eventsource import WORKER_PRELOAD, worker_context

# Imported by each worker after the fork, once its environment is the run's: handling.py's
# Powertools logger and metrics read theirs when they are created.
LEFT_TO_THE_WORKER = ["copy_objects", "copy_objects.app", "list_objects", "list_objects.app", "s3fanout.handling"]


def test_the_fork_server_imports_everything_the_handlers_need_but_what_reads_the_environment():
    # In a process of its own: importing the module is the fork server's start.
    code = (
        "import sys; import s3fanout.workerpreload; loaded = set(sys.modules); "
        "import list_objects.app, copy_objects.app; print(sorted(set(sys.modules) - loaded))"
    )
    env = os.environ | {"AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)

    assert ast.literal_eval(result.stdout.strip()) == LEFT_TO_THE_WORKER


def test_workers_are_forked_from_a_fork_server_whose_preload_exists():
    # The fork server ignores a module it cannot import: a renamed one would only make runs slower.
    assert worker_context().get_start_method() == "forkserver"
    assert importlib.util.find_spec(WORKER_PRELOAD) is not None


def test_the_fork_server_has_asked_whether_a_list_is_a_mapping_before_any_worker_does():
    # abc._get_dump (CPython's own view of an ABC's caches): a list is in Mapping's negative cache,
    # and stays there once the handler modules are imported (nothing registers a Mapping since).
    code = (
        "import abc, collections.abc as c, s3fanout.workerpreload, list_objects.app, copy_objects.app; "
        "_, _, negative, version = abc._get_dump(c.Mapping); "
        "print(list in {ref() for ref in negative} and version == abc.get_cache_token())"
    )
    env = os.environ | {"AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)

    assert result.stdout.strip() == "True"


def test_what_the_fork_server_loaded_is_out_of_the_workers_collections():
    # Frozen: a worker's collections do not walk (and so copy) the pages of what it inherited.
    code = "import gc, s3fanout.workerpreload, boto3; print(gc.get_freeze_count() > 50_000)"
    env = os.environ | {"AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)

    assert result.stdout.strip() == "True"
