"""moto's ListObjectVersions, made to answer as S3 does (moto 5.2 differs in three ways the
version listings rely on), for in-process moto (``patch()``) and as a moto server
(``python -m tests.moto_versions -H HOST -p PORT``, for EmbeddedMoto; the embedded server's
atomic DynamoDB included).

What moto 5.2 does and S3 does not:

- KeyMarker without VersionIdMarker: S3 lists the keys after the marker; moto skips only the
  first entry at or after it (so it lists the marker key's older versions, or drops the first
  entry of the next key). The listing's own checks (s3ops.list_version_pages) refuse such a page.
- Versions and delete markers: S3 interleaves <Version> and <DeleteMarker> in order (keys
  ascending, each key's entries newest first); moto writes every version, then every delete
  marker, so the order of a key's entries is lost.
- EncodingType=url (which botocore always asks for): moto ignores it and writes keys raw, which
  is wrong for a key with a control character (not XML 1.0: moto answers 500).

The listing is rebuilt here from moto's own store with S3's rules; without a delimiter only (the
tool never lists versions with one: moto's own answer is kept then). ``unpatch()`` restores it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from moto.s3.models import FakeDeleteMarker
from moto.s3.responses import S3Response

_ORIGINAL = S3Response.list_object_versions
_OWNER = "<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID><DisplayName>webfile</DisplayName></Owner>"


def _list_object_versions(self: Any) -> Any:
    query = self.querystring
    if query.get("delimiter", [None])[0]:
        return _ORIGINAL(self)
    key_marker = query.get("key-marker", [None])[0]
    version_marker = query.get("version-id-marker", [None])[0]
    max_keys = int(query.get("max-keys", ["1000"])[0])
    prefix = self._get_querystring(self.request, self.uri).get("prefix", [""])[0]
    url = query.get("encoding-type", [None])[0] == "url"
    bucket = self.backend.get_bucket(self.bucket_name)
    entries = []
    for name, versions in sorted(bucket.keys.iterlists(), key=lambda pair: pair[0]):
        if name.startswith(prefix):
            entries += [(name, version, index == 0) for index, version in enumerate(reversed(versions))]
    start = 0
    if key_marker is not None:
        if version_marker:
            found = [i for i, (name, version, _) in enumerate(entries) if name == key_marker and str(version.version_id or "null") == version_marker]
            start = found[0] + 1 if found else next((i for i, (name, _, _) in enumerate(entries) if name > key_marker), len(entries))
        else:
            start = next((i for i, (name, _, _) in enumerate(entries) if name > key_marker), len(entries))
    page = entries[start : start + max_keys]
    truncated = start + max_keys < len(entries)

    def text(value: str) -> str:
        return escape(quote(value, safe="") if url else value)

    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
        f"<Name>{escape(bucket.name)}</Name><Prefix>{text(prefix)}</Prefix>",
        f"<KeyMarker>{text(key_marker or '')}</KeyMarker><VersionIdMarker>{escape(version_marker or '')}</VersionIdMarker>",
        f"<MaxKeys>{max_keys}</MaxKeys>" + ("<EncodingType>url</EncodingType>" if url else ""),
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
    ]
    if truncated and page:
        name, version, _ = page[-1]
        parts.append(f"<NextKeyMarker>{text(name)}</NextKeyMarker><NextVersionIdMarker>{escape(str(version.version_id or 'null'))}</NextVersionIdMarker>")
    for name, version, latest in page:
        common = (
            f"<Key>{text(name)}</Key><VersionId>{escape(str(version.version_id or 'null'))}</VersionId>"
            f"<IsLatest>{'true' if latest else 'false'}</IsLatest><LastModified>{version.last_modified_ISO8601}</LastModified>"
        )
        if isinstance(version, FakeDeleteMarker):
            parts.append(f"<DeleteMarker>{common}{_OWNER}</DeleteMarker>")
        else:
            parts.append(f"<Version>{common}<ETag>{escape(version.etag)}</ETag><Size>{version.size}</Size><StorageClass>{version.storage_class}</StorageClass>{_OWNER}</Version>")
    parts.append("</ListVersionsResult>")
    return 200, {"Content-Type": "application/xml"}, "".join(parts)


def patch() -> None:
    S3Response.list_object_versions = _list_object_versions  # type: ignore[method-assign]


def unpatch() -> None:
    S3Response.list_object_versions = _ORIGINAL  # type: ignore[method-assign]


if __name__ == "__main__":
    from s3fanout.motoserver import serve

    patch()
    serve()
