"""Resolve ``"package.module:attribute"`` references from suites and options."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from evalkit.errors import TargetImportError


def import_object(ref: str, *, search_path: str | Path | None = None) -> Any:
    """Import ``module:attr`` (``attr`` may be dotted: ``module:Class.method``).

    *search_path* (e.g. the folder holding the suite) is tried too, so a suite can
    name a module that sits beside it.

    Raises:
        TargetImportError: the reference is malformed, or the module or attribute
            does not exist; the message says which.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise TargetImportError("expected 'package.module:callable'", target=ref)
    added = False
    if search_path is not None:
        sp = str(Path(search_path).resolve())
        if sp not in sys.path:
            sys.path.append(sp)
            added = True
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise TargetImportError(f"module {exc.name!r} not found", target=ref) from exc
    finally:
        if added:
            sys.path.remove(str(Path(search_path).resolve()))  # type: ignore[arg-type]
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetImportError(
                f"module {module_name!r} has no attribute {part!r}", target=ref
            ) from None
    return obj
