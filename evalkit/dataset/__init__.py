"""Versioned ground-truth datasets: cases, content hashes, pins, diffs, snapshots."""

from evalkit.dataset._case import Case
from evalkit.dataset._dataset import (
    Dataset,
    DatasetDiff,
    DatasetSpec,
    diff_cases,
    freeze_dataset,
    list_datasets,
    load_dataset,
    load_snapshot,
    resolve_pin,
    validate_dataset,
)
from evalkit.dataset._version import DatasetPin, canonical_json, content_hash

__all__ = [
    "Case",
    "Dataset",
    "DatasetDiff",
    "DatasetPin",
    "DatasetSpec",
    "canonical_json",
    "content_hash",
    "diff_cases",
    "freeze_dataset",
    "list_datasets",
    "load_dataset",
    "load_snapshot",
    "resolve_pin",
    "validate_dataset",
]
