"""Shared core of s3-fanout: messages, key ranges, S3 and SQS operations, listing and copying.

The Lambda handlers (list_objects, copy_objects) and the CLI (seed) are thin layers over this package.
"""
