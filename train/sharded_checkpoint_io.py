"""torch.distributed.checkpoint (DCP) storage without unpickling on load.

DCP's FileSystemReader unpickles the checkpoint's `.metadata` file, and its DefaultLoadPlanner
reads every non-tensor value (the optimizer's lr, betas, ...) with `torch.load(weights_only=False)`:
both run whatever code a crafted file holds. Here the writer keeps DCP's files (shards
`__<rank>_<n>.distcp`, whose tensors DCP reads with `weights_only=True`, and its `.metadata`, left
for torch's own tools such as `dcp_to_torch_save`) and adds the same metadata as JSON
(`metadata.json`); the reader rebuilds DCP's metadata objects from that JSON with a fixed schema
(nothing named in the file is imported or called), and the planner reads non-tensor values with
`weights_only=True`. corpusmill never opens the `.metadata` pickle.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint import FileSystemReader, FileSystemWriter
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.filesystem import _StorageInfo
from torch.distributed.checkpoint.metadata import (
    BytesStorageMetadata,
    ChunkStorageMetadata,
    Metadata,
    MetadataIndex,
    StorageMeta,
    TensorProperties,
    TensorStorageMetadata,
)

METADATA_NAME = "metadata.json"
METADATA_FORMAT = 1


class CheckpointMetadataError(ValueError):
    """A sharded checkpoint's metadata.json is missing or not what this module writes."""


# ----------------------------------------------------------------------------- encode


def _size(value) -> list[int]:
    return [int(v) for v in value]


def _encode_storage(item) -> dict:
    if isinstance(item, BytesStorageMetadata):
        return {"kind": "bytes"}
    props = item.properties
    return {"kind": "tensor", "size": _size(item.size), "dtype": str(props.dtype).removeprefix("torch."),
            "layout": str(props.layout).removeprefix("torch."), "requires_grad": bool(props.requires_grad),
            "memory_format": str(props.memory_format).removeprefix("torch."), "pin_memory": bool(props.pin_memory),
            "chunks": [{"offsets": _size(c.offsets), "sizes": _size(c.sizes)} for c in item.chunks]}


def encode_metadata(metadata: Metadata) -> dict:
    return {
        "format": METADATA_FORMAT,
        "dcp_version": metadata.version,
        "state_dict_metadata": {fqn: _encode_storage(item) for fqn, item in metadata.state_dict_metadata.items()},
        "planner_data": {fqn: list(path) for fqn, path in (metadata.planner_data or {}).items()},
        "storage_data": [
            {"fqn": index.fqn, "offset": None if index.offset is None else _size(index.offset), "index": index.index,
             "relative_path": info.relative_path, "file_offset": int(info.offset), "length": int(info.length),
             "transform_descriptors": None if info.transform_descriptors is None else list(info.transform_descriptors)}
            for index, info in metadata.storage_data.items()
        ],
    }


# ----------------------------------------------------------------------------- decode


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise CheckpointMetadataError(f"{what}; the checkpoint's {METADATA_NAME} is damaged or was not written "
                                      "by corpusmill: save the checkpoint again")


def _ints(value, what: str) -> torch.Size:
    _check(type(value) is list and all(type(v) is int and v >= 0 for v in value), f"{what} is not a list of sizes")
    return torch.Size(value)


def _torch_constant(name, kind: type, what: str):
    """torch.float32, torch.strided, torch.contiguous_format: a name looked up among torch's
    attributes of one type only (nothing is imported or called)."""
    _check(type(name) is str and name.isidentifier(), f"{what} {name!r} is not a name")
    value = getattr(torch, name, None)
    _check(isinstance(value, kind), f"{what} {name!r} is not a torch {kind.__name__}")
    return value


def _decode_storage(item, fqn: str):
    _check(type(item) is dict, f"entry {fqn!r} is not an object")
    if item.get("kind") == "bytes":
        _check(set(item) == {"kind"}, f"entry {fqn!r} has unknown keys")
        return BytesStorageMetadata()
    keys = {"kind", "size", "dtype", "layout", "requires_grad", "memory_format", "pin_memory", "chunks"}
    _check(item.get("kind") == "tensor" and set(item) == keys, f"entry {fqn!r} is neither a tensor nor bytes")
    _check(type(item["requires_grad"]) is bool and type(item["pin_memory"]) is bool, f"entry {fqn!r}: flags")
    _check(type(item["chunks"]) is list and all(type(c) is dict and set(c) == {"offsets", "sizes"}
                                                for c in item["chunks"]), f"entry {fqn!r}: chunks")
    properties = TensorProperties(
        dtype=_torch_constant(item["dtype"], torch.dtype, "dtype"),
        layout=_torch_constant(item["layout"], torch.layout, "layout"),
        requires_grad=item["requires_grad"],
        memory_format=_torch_constant(item["memory_format"], torch.memory_format, "memory format"),
        pin_memory=item["pin_memory"])
    chunks = [ChunkStorageMetadata(offsets=_ints(c["offsets"], "offsets"), sizes=_ints(c["sizes"], "sizes"))
              for c in item["chunks"]]
    return TensorStorageMetadata(properties=properties, size=_ints(item["size"], "size"), chunks=chunks)


def _decode_storage_info(entry) -> tuple[MetadataIndex, _StorageInfo]:
    keys = {"fqn", "offset", "index", "relative_path", "file_offset", "length", "transform_descriptors"}
    _check(type(entry) is dict and set(entry) == keys, "a storage entry has unknown or missing keys")
    path = entry["relative_path"]
    # Shard files sit next to metadata.json: a name, never a path out of the directory.
    _check(type(path) is str and path.endswith(".distcp") and Path(path).name == path and not path.startswith("."),
           f"shard file {path!r} is not a shard name in the checkpoint directory")
    _check(type(entry["fqn"]) is str and (entry["index"] is None or type(entry["index"]) is int), "storage key")
    _check(type(entry["file_offset"]) is int and type(entry["length"]) is int
           and entry["file_offset"] >= 0 and entry["length"] >= 0, "storage offset or length")
    transforms = entry["transform_descriptors"]
    _check(transforms is None or (type(transforms) is list and all(type(t) is str for t in transforms)),
           "transform descriptors")
    index = MetadataIndex(fqn=entry["fqn"], offset=None if entry["offset"] is None else _ints(entry["offset"], "offset"),
                          index=entry["index"])
    info = _StorageInfo(relative_path=path, offset=entry["file_offset"], length=entry["length"],
                        transform_descriptors=transforms)
    return index, info


def decode_metadata(data: Any) -> Metadata:
    keys = {"format", "dcp_version", "state_dict_metadata", "planner_data", "storage_data"}
    _check(type(data) is dict and set(data) == keys, "the top-level keys differ")
    _check(data["format"] == METADATA_FORMAT, f"format {data['format']!r} is not {METADATA_FORMAT}")
    _check(data["dcp_version"] is None or type(data["dcp_version"]) is str, "dcp_version is not a string")
    _check(type(data["state_dict_metadata"]) is dict and type(data["planner_data"]) is dict
           and type(data["storage_data"]) is list, "a section has the wrong type")
    planner_data = {}
    for fqn, path in data["planner_data"].items():
        _check(type(path) is list and all(type(p) in (str, int) for p in path), f"planner path of {fqn!r}")
        planner_data[fqn] = tuple(path)
    return Metadata(
        state_dict_metadata={fqn: _decode_storage(item, fqn) for fqn, item in data["state_dict_metadata"].items()},
        planner_data=planner_data,
        storage_data=dict(_decode_storage_info(entry) for entry in data["storage_data"]),
        storage_meta=StorageMeta(),
        version=data["dcp_version"],
    )


# ----------------------------------------------------------------------------- DCP plug-ins


class JsonMetadataWriter(FileSystemWriter):
    """DCP's file writer, with the metadata also written as JSON (what corpusmill reads)."""

    def finish(self, metadata: Metadata, results) -> None:
        super().finish(metadata, results)  # fills metadata.storage_data, writes DCP's .metadata
        directory = Path(self.path)
        tmp = directory / (METADATA_NAME + ".tmp")
        tmp.write_text(json.dumps(encode_metadata(metadata)))
        os.replace(tmp, directory / METADATA_NAME)


class JsonMetadataReader(FileSystemReader):
    """DCP's file reader, with the metadata read from JSON (the `.metadata` pickle is never opened)."""

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        path = Path(self.path) / METADATA_NAME
        if not path.is_file():
            raise CheckpointMetadataError(
                f"{path.parent}: no {METADATA_NAME}; a sharded checkpoint whose metadata is only a pickle "
                "(`.metadata`, from corpusmill before this format) is not loaded, since unpickling runs code: "
                "resume with the corpusmill version that wrote it, or train again")
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointMetadataError(f"{path}: not JSON ({error}); save the checkpoint again") from None
        metadata = decode_metadata(data)
        metadata.storage_meta.load_id = self.load_id
        return metadata


class WeightsOnlyLoadPlanner(DefaultLoadPlanner):
    """DCP's default planner, reading non-tensor values with `weights_only=True` (theirs: False)."""

    def load_bytes(self, read_item, value) -> None:
        loaded = torch.load(value, weights_only=True)
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], loaded)
        else:
            self.state_dict[read_item.dest_index.fqn] = loaded
