"""Job files in a GridFS bucket, written chunk by chunk as the export produces them.

The layout is GridFS's own (``<bucket>.files`` and ``<bucket>.chunks``, chunks of
:data:`CHUNK_SIZE` numbered from 0), so any GridFS reader (``gridfs.GridFSBucket``, ``mongofiles``)
reads a job's file. The writer is ours rather than pymongo's ``GridIn`` because ``GridIn`` keeps
up to 48 MB of chunks in memory before its first insert: a job's file would sit in the worker's
memory, and a worker killed mid-write would have written nothing yet. :class:`ChunkWriter` inserts
each chunk as it fills; the files document comes last, so a file without one is a partial
write (what :func:`delete_file` removes after a killed attempt).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from bson import Binary

#: GridFS's default chunk size (255 KiB): one chunk document stays far below MongoDB's 16 MB.
CHUNK_SIZE = 255 * 1024
#: Chunks are inserted as soon as one is full: one round trip per 255 KiB costs nothing next to
#: producing them, and what a job has written is in the database, not in the worker's memory.
FLUSH_BYTES = CHUNK_SIZE


class Bucket:
    """The two collections of one GridFS bucket."""

    def __init__(self, database: Any, name: str):
        self.files = database[f"{name}.files"]
        self.chunks = database[f"{name}.chunks"]

    def ensure_indexes(self) -> None:
        """GridFS's indexes (the ones ``GridFSBucket`` creates on its first write)."""
        self.files.create_index([("filename", 1), ("uploadDate", 1)])
        self.chunks.create_index([("files_id", 1), ("n", 1)], unique=True)


class ChunkWriter:
    """One file written into a bucket under a chosen id, in chunks inserted as they fill."""

    def __init__(self, bucket: Bucket, file_id: Any, filename: str, metadata: dict[str, Any]):
        self.bucket = bucket
        self.file_id = file_id
        self.filename = filename
        self.metadata = metadata
        self.length = 0
        self._buffer = bytearray()
        self._pending: list[dict[str, Any]] = []
        self._pending_bytes = 0
        self._number = 0

    def write(self, data: bytes) -> None:
        """Add ``data``; full chunks are inserted every :data:`FLUSH_BYTES`."""
        self._buffer += data
        self.length += len(data)
        while len(self._buffer) >= CHUNK_SIZE:
            self._add_chunk(bytes(self._buffer[:CHUNK_SIZE]))
            del self._buffer[:CHUNK_SIZE]
        if self._pending_bytes >= FLUSH_BYTES:
            self._flush()

    def close(self, now: datetime) -> int:
        """Insert what is left, then the files document that makes the file whole; the length."""
        if self._buffer:
            self._add_chunk(bytes(self._buffer))
            self._buffer.clear()
        self._flush()
        self.bucket.files.insert_one(
            {
                "_id": self.file_id,
                "length": self.length,
                "chunkSize": CHUNK_SIZE,
                "uploadDate": now,
                "filename": self.filename,
                "metadata": self.metadata,
            }
        )
        return self.length

    def _add_chunk(self, data: bytes) -> None:
        self._pending.append({"files_id": self.file_id, "n": self._number, "data": Binary(data)})
        self._pending_bytes += len(data)
        self._number += 1

    def _flush(self) -> None:
        if self._pending:
            self.bucket.chunks.insert_many(self._pending, ordered=True)
        self._pending = []
        self._pending_bytes = 0


def read_file(bucket: Bucket, file_id: Any, length: int) -> Iterator[bytes]:
    """The file's bytes chunk by chunk; a missing chunk (a file deleted while read) ends it with an error."""
    expected = 0
    sent = 0
    for chunk in bucket.chunks.find({"files_id": file_id}, {"n": 1, "data": 1}).sort("n", 1).batch_size(8):
        if chunk["n"] != expected:
            raise OSError(f"job file {file_id} lacks chunk {expected}")
        data = bytes(chunk["data"])
        expected += 1
        sent += len(data)
        yield data
    if sent != length:
        raise OSError(f"job file {file_id} has {sent} of its {length} bytes")


def delete_file(bucket: Bucket, file_id: Any) -> None:
    """Remove a file, whole or partial (a killed attempt's chunks have no files document). Chunks go first, so
    a delete cut short leaves the files document, by which a second delete still finds the file."""
    if file_id is None:
        return
    bucket.chunks.delete_many({"files_id": file_id})
    bucket.files.delete_one({"_id": file_id})


def utc(value: datetime | None) -> datetime | None:
    """A time read from MongoDB (naive UTC, or aware with ``tz_aware``) as an aware UTC datetime."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """A stored time as ISO 8601 UTC with ``Z``, whole seconds (as job and schedule objects show times)."""
    aware = utc(value)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ") if aware is not None else None
