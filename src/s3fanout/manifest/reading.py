"""Reading one part of a manifest: its rows, streamed, each checked to name the manifest's bucket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from s3fanout.manifest.columnar import columnar_rows
from s3fanout.manifest.csvrows import RowParser, gzip_lines, owned_lines, parse_lines
from s3fanout.manifest.model import ManifestError, ManifestPart, ManifestRow, PartFormat
from s3fanout.manifest.sources import source_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def read_part(part: ManifestPart, s3: S3Client | None = None) -> Iterator[ManifestRow]:
    """The rows of ``part``, read as they are consumed: a gzipped CSV decompressed from one
    GetObject stream, a plain CSV's byte range (and the end of its last line), a Parquet row group
    or an ORC stripe after its file's footer. Local paths are read the same way.

    Raises ManifestError (on the first row that is wrong, or when the file cannot be read) naming
    the part and the row's number in the part.
    """
    source = source_for(part.uri, s3, part.size)
    if part.format in (PartFormat.PARQUET, PartFormat.ORC):
        numbered = columnar_rows(source, part)
    else:
        parser = RowParser(part.columns)
        lines = gzip_lines(source) if part.format is PartFormat.CSV_GZ else owned_lines(source, part.start, part.end)
        numbered = parse_lines(lines, parser, first_of_file=part.start == 0)
    expected = part.bucket
    try:
        for number, row in numbered:
            if expected is None:
                expected = row.bucket
            elif row.bucket != expected:
                raise ManifestError(f"{part.describe()}: row {number} names bucket {row.bucket!r}, not {expected!r} (a manifest names one bucket)")
            yield row
    except ValueError as error:
        raise ManifestError(f"{part.describe()}: {error}") from None
