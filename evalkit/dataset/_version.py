"""Semantic versions, content hashes and suite pins for datasets."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_HASH = re.compile(r"^sha256:[0-9a-f]{8,64}$")


def is_semver(text: str) -> bool:
    """Return True when *text* is a semantic version such as ``1.2.0``."""
    return bool(_SEMVER.match(text))


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace (stable across runs)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(canonical_cases: Iterable[str]) -> str:
    """Return ``sha256:<hex>`` over canonicalised cases, in id order.

    Ordering by id makes the hash independent of line order in ``cases.jsonl``;
    any change to any field of any case changes it.
    """
    h = hashlib.sha256()
    for line in sorted(canonical_cases):
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True, slots=True)
class DatasetPin:
    """What a suite asks for: ``name``, ``name@1.2.0`` or ``name@sha256:…``."""

    name: str
    version: str | None = None
    hash: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetPin:
        """Parse a pin string; raises ValueError with what was expected."""
        name, sep, ref = text.partition("@")
        if not name:
            raise ValueError(f"dataset pin {text!r} has no name; expected 'name@1.2.0'")
        if not sep:
            return cls(name=name)
        if _HASH.match(ref):
            return cls(name=name, hash=ref)
        if is_semver(ref):
            return cls(name=name, version=ref)
        raise ValueError(
            f"dataset pin {text!r}: {ref!r} is neither a semver version (1.2.0) "
            "nor a content hash (sha256:<hex>)"
        )

    def __str__(self) -> str:
        ref = self.version or self.hash
        return f"{self.name}@{ref}" if ref else self.name
