"""Job manifests: S3 Inventory reports (CSV, ORC, Parquet) and S3 Batch Operations CSV manifests,
opened into parts that lister tasks read one each, streaming.

    manifest = open_manifest("s3://inventories/src/daily/2026-01-01T01-00Z/manifest.json", s3)
    for part in manifest.parts:            # ManifestPart.to_dict() travels in a list task
        for row in read_part(part, s3):    # ManifestRow: bucket, key (decoded), version, size, ETag, ...
            ...
"""

from s3fanout.manifest.csvrows import decode_key
from s3fanout.manifest.model import Manifest, ManifestError, ManifestKind, ManifestPart, ManifestRow, PartFormat
from s3fanout.manifest.planning import DEFAULT_PART_BYTES, open_manifest
from s3fanout.manifest.reading import read_part

__all__ = [
    "DEFAULT_PART_BYTES",
    "Manifest",
    "ManifestError",
    "ManifestKind",
    "ManifestPart",
    "ManifestRow",
    "PartFormat",
    "decode_key",
    "open_manifest",
    "read_part",
]
