"""The copy path: a batch's keys copied concurrently (batch.py) under a limit that throttling
lowers (limit.py), each object in one CopyObject (single.py), large objects in parts
(multipart.py), streamed where no server-side copy reaches both sides (stream.py), and what happens
to the keys that fail: retried with the one backoff (s3fanout.backoff) or dead-lettered."""
