import gc
import sys

from s3fanout.eventsource import prepare_workers

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0].startswith("-") and "--local" in args and not {"--dry-run", "-h", "--help"} & set(args):
        # A job on local workers: their fork server imports what they need (about half a second)
        # while this process imports the command line's modules, and then checks and sets up.
        prepare_workers()
        # This process only sets up, seeds and follows the job; the workers copy. botocore
        # imports the CRT and pyOpenSSL wherever they are installed (a seventh of a second before
        # the first request), which this process needs for nothing: neither signs with SigV4a
        # nor computes a CRC32C, and urllib3's own SSLContext is what botocore takes either way.
        # A module that is None in sys.modules fails to import, as on Lambda, which has neither.
        for unused in ("awscrt", "urllib3.contrib.pyopenssl"):
            sys.modules[unused] = None  # type: ignore[assignment]  # how Python marks a module not to import
    from seed.cli import main

    status = main()
    # Everything is written and closed by now: spare the interpreter's exit its garbage collections
    # over every object still alive (boto3's models are many; about a quarter of a second).
    gc.freeze()
    sys.exit(status)
