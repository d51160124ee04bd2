import gc
import sys

from s3fanout.eventsource import prepare_workers
from s3fanout.motoserver import launch_early, services_without_endpoint

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0].startswith("-") and "--local" in args and not {"--dry-run", "-h", "--help"} & set(args):
        # A job on local workers: their fork server imports what they need (about half a second)
        # while this process imports the command line's modules, and then checks and sets up.
        prepare_workers()
        if not any(arg.startswith("--stack") for arg in args) and services_without_endpoint():
            # Its queues and job record on an embedded moto server, which starts meanwhile too.
            launch_early()
        # botocore imports pyOpenSSL (and with it cryptography, 60 ms before the first request)
        # wherever it is installed, only to take urllib3's own SSLContext under another name. A
        # module that is None in sys.modules fails to import, and botocore then takes it from
        # urllib3 directly. (The CRT stays: `aws login` credentials need it.)
        sys.modules["urllib3.contrib.pyopenssl"] = None  # type: ignore[assignment]  # how Python marks a module not to import
    from seed.cli import main

    status = main()
    # Everything is written and closed by now: spare the interpreter's exit its garbage collections
    # over every object still alive (boto3's models are many; about a quarter of a second).
    gc.freeze()
    sys.exit(status)
