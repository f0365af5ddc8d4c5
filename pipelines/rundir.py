"""The run directory on a local path or any fsspec URL, written atomically.

Every output goes to a temporary name first and is renamed into place (on object stores the final
PUT is itself atomic), and a task's completion marker is written only after its outputs: a reader
never sees half a file, and a resumed run can trust every marker it finds.
"""
from __future__ import annotations

import io
import json
import os
from contextlib import contextmanager
from typing import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from tokenization.atomic_files import temp_name

PARQUET_OPTIONS = dict(compression="zstd", row_group_size=10_000)


class RunDir:
    def __init__(self, root: str):
        # No cached listings on a remote store: a driver that listed a folder once (an `exists`
        # answered from the parent's listing) would not see what workers wrote there since.
        self.fs, self.root = url_to_fs(root, **({"use_listings_cache": False} if "://" in root else {}))
        self.url = root
        self.is_local = isinstance(self.fs, fsspec.implementations.local.LocalFileSystem)
        self.fs.makedirs(self.root, exist_ok=True)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def local_path(self, *parts: str) -> str:
        """A real filesystem path (for libraries that need one, like Arrow IPC memory maps)."""
        if not self.is_local:
            raise ValueError(
                f"run directory {self.url} is not local; this step needs a local run directory "
                "(build there, then copy the run to remote storage)"
            )
        return self.path(*parts)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    def write_bytes(self, rel: str, data: bytes) -> None:
        final = self.path(rel)
        self.fs.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = temp_name(final)
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, final)

    def write_json(self, rel: str, obj) -> None:
        self.write_bytes(rel, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())

    def read_json(self, rel: str):
        return json.loads(self.fs.cat_file(self.path(rel)))

    def read_text(self, rel: str) -> str:
        return self.fs.cat_file(self.path(rel)).decode()

    def write_parquet(self, rel: str, table: pa.Table) -> int:
        buffer = io.BytesIO()
        pq.write_table(table, buffer, **PARQUET_OPTIONS)
        data = buffer.getvalue()
        self.write_bytes(rel, data)
        return len(data)

    @contextmanager
    def parquet_writer(self, rel: str, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
        """Stream row groups to a temporary file, renamed into place only if the block succeeds."""
        final = self.path(rel)
        self.fs.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = temp_name(final)
        try:
            with self.fs.open(tmp, "wb") as sink, pq.ParquetWriter(sink, schema, compression="zstd") as writer:
                yield writer
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise
        self.fs.mv(tmp, final)

    def read_parquet(self, rel_or_abs: str, columns: list[str] | None = None) -> pa.Table:
        path = rel_or_abs if rel_or_abs.startswith(self.root) else self.path(rel_or_abs)
        return pq.read_table(path, filesystem=self.fs, columns=columns)

    def abort_unfinished_uploads(self) -> list[str]:
        """Abort the multipart uploads left unfinished under this run on S3 (a writer killed
        mid-upload of a large object); return their keys. Such an upload is no object (no reader
        or marker check ever sees it) but its parts are stored, and billed, until aborted. Only
        for the holder of the run directory (pipelines.run_lock): no one else writes under it."""
        if not hasattr(self.fs, "list_multipart_uploads"):  # not S3 (a local or other fsspec store)
            return []
        bucket, _, prefix = self.root.partition("/")
        prefix = prefix.rstrip("/") + "/"
        aborted, markers = [], {}
        while True:
            page = self.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix, **markers)
            for upload in page.get("Uploads", []):
                self.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                aborted.append(upload["Key"])
            if not page.get("IsTruncated"):
                return aborted
            markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

    def glob(self, pattern: str) -> list[str]:
        """Sorted paths (absolute within the filesystem) matching a pattern relative to the run."""
        return sorted(self.fs.glob(self.path(pattern)))

    def relative(self, path: str) -> str:
        return os.path.relpath(path, self.root)
