"""The copy path: a batch's keys copied concurrently (batch.py) under a limit that throttling
lowers (limit.py), large objects in parts (multipart.py), and what happens to the keys that fail:
retried with the one backoff (s3fanout.backoff) or dead-lettered."""
