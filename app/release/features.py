"""Hugging Face ``datasets`` features for Arrow schemas, without importing ``datasets``.

A Parquet file carries its features in the schema metadata key ``huggingface``; that is
what makes ``datasets.load_dataset`` decode a ``{bytes, path}`` struct as an ``Image``.
The same features go into the dataset card's YAML (``dataset_info``), in the card's own
list form. Both forms are produced here, from one Arrow schema and the names of its image
columns, so the card and the files can not disagree.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import pyarrow as pa

# How datasets stores an Image: a struct of the encoded bytes and an optional file name.
IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

_VALUE_DTYPES = {
    pa.string(): "string", pa.large_string(): "large_string", pa.int64(): "int64",
    pa.int32(): "int32", pa.float64(): "float64", pa.float32(): "float32",
    pa.bool_(): "bool", pa.binary(): "binary",
}


def _feature(dtype: pa.DataType, image: bool) -> dict[str, Any]:
    if image:
        if dtype == IMAGE_STRUCT:
            return {"_type": "Image"}
        if pa.types.is_list(dtype) and dtype.value_type == IMAGE_STRUCT:
            return {"_type": "List", "feature": {"_type": "Image"}}
        raise TypeError(f"an image column must be {IMAGE_STRUCT} or a list of it, not {dtype}")
    if pa.types.is_list(dtype):
        return {"_type": "List", "feature": _feature(dtype.value_type, False)}
    if pa.types.is_struct(dtype):
        return {dtype.field(k).name: _feature(dtype.field(k).type, False)
                for k in range(dtype.num_fields)}
    if dtype in _VALUE_DTYPES:
        return {"_type": "Value", "dtype": _VALUE_DTYPES[dtype]}
    raise TypeError(f"no datasets feature for Arrow type {dtype}")


def hf_features(schema: pa.Schema, image_columns: Collection[str] = ()) -> dict[str, Any]:
    """The ``Features.to_dict()`` form of ``schema``; ``image_columns`` hold images."""
    unknown = set(image_columns) - set(schema.names)
    if unknown:
        raise ValueError(f"image columns not in the schema: {sorted(unknown)}")
    return {f.name: _feature(f.type, f.name in image_columns) for f in schema}


def with_hf_metadata(schema: pa.Schema, image_columns: Collection[str] = ()) -> pa.Schema:
    """``schema`` with the ``huggingface`` metadata that ``datasets`` reads."""
    info = {"info": {"features": hf_features(schema, image_columns)}}
    return schema.with_metadata({"huggingface": json.dumps(info, sort_keys=True)})


def _yaml_inner(feature: Any) -> dict[str, Any]:
    """One feature in the card's form (as ``datasets.Features._to_yaml_list`` writes it)."""
    kind = feature.get("_type") if isinstance(feature, dict) else None
    if kind == "Value":
        return {"dtype": feature["dtype"]}
    if kind == "Image":
        return {"dtype": "image"}
    if kind == "List":
        inner = _yaml_inner(feature["feature"])
        if list(inner) in (["dtype"], ["struct"]):  # datasets' own simplification
            return {"list": next(iter(inner.values()))}
        return {"list": inner}
    if isinstance(feature, dict) and kind is None:
        return {"struct": [{"name": name, **_yaml_inner(f)} for name, f in feature.items()]}
    raise TypeError(f"unsupported feature {feature!r}")


def card_features(features: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``dataset_info.features`` list of a dataset card for ``hf_features`` output."""
    return _yaml_inner(dict(features))["struct"]
