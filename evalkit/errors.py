"""Every error evalkit raises on purpose.

The library raises these typed errors; only the command line turns them into
messages and exit codes (2 for an :class:`EvalkitError`, 3 for anything else).
Each error carries its context as attributes so a front end can point at the
exact file, line or key that was wrong::

    EvalkitError
    ├── InputError                 bad input from a user: exit code 2
    │   ├── DatasetError           .path .line .field  (dataset.yaml / cases.jsonl)
    │   │   └── DatasetPinError    .expected .actual   (suite pin no longer matches)
    │   ├── ConfigError            .path .key          (suite YAML, CLI overrides)
    │   ├── RunFolderError         .path               (missing / corrupt run folder)
    │   └── TargetImportError      .target             ("module:callable" not importable)
    ├── StatsError                 a statistic is undefined for the data given
    ├── ScorerError                .scorer             (a scorer crashed; recorded, not raised)
    │   └── JudgeError             .raw                (judge output unusable)
    ├── ModelError                 .model              (a model call failed)
    │   └── TransientError         .retry_after        (retryable: timeout, 429, 5xx)
    ├── ContractError              .step .field        (a handoff or tool schema violated)
    └── BudgetExceeded             .budget .limit .used
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "ContractError",
    "DatasetError",
    "DatasetPinError",
    "EvalkitError",
    "InputError",
    "JudgeError",
    "ModelError",
    "RunFolderError",
    "ScorerError",
    "StatsError",
    "TargetImportError",
    "TransientError",
]


class EvalkitError(Exception):
    """Base of every error evalkit raises on purpose."""


class InputError(EvalkitError):
    """Input from a user (file, option, argument) is not what was expected."""


def _where(path: str | Path | None, line: int | None = None, key: str | None = None) -> str:
    parts: list[str] = []
    if path is not None:
        parts.append(f"{path}:{line}" if line is not None else str(path))
    if key:
        parts.append(key)
    return ": ".join(parts)


class DatasetError(InputError):
    """A dataset file is malformed.

    Attributes:
        path: the file that is wrong.
        line: 1-based line in ``cases.jsonl`` when known.
        field: the offending field (dotted) when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.field = field
        where = _where(path, line, field)
        super().__init__(f"{where}: {message}" if where else message)


class DatasetPinError(DatasetError):
    """A suite pins a dataset version or hash that the files no longer match."""

    def __init__(
        self, message: str, *, path: str | Path | None, expected: str, actual: str
    ) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message, path=path)


class ConfigError(InputError):
    """A suite file, option or override is invalid.

    Attributes:
        path: the YAML file, when the error comes from one.
        key: the dotted key path, e.g. ``scorers[2].pattern``.
    """

    def __init__(
        self, message: str, *, path: str | Path | None = None, key: str | None = None
    ) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.key = key
        where = _where(path, None, key)
        super().__init__(f"{where}: {message}" if where else message)


class RunFolderError(InputError):
    """A run folder is missing, incomplete or corrupt."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class TargetImportError(InputError):
    """A ``module:callable`` reference cannot be imported."""

    def __init__(self, message: str, *, target: str) -> None:
        self.target = target
        super().__init__(f"{target!r}: {message}")


class StatsError(EvalkitError):
    """A statistic is undefined or cannot be computed for the data given."""


class ScorerError(EvalkitError):
    """A scorer failed; the trial is recorded as ``scorer_error``, never as a fail."""

    def __init__(self, message: str, *, scorer: str | None = None) -> None:
        self.scorer = scorer
        super().__init__(message)


class JudgeError(ScorerError):
    """A judge call failed or its output could not be parsed (``judge_error``)."""

    def __init__(self, message: str, *, scorer: str | None = None, raw: str | None = None) -> None:
        self.raw = raw
        super().__init__(message, scorer=scorer)


class ModelError(EvalkitError):
    """A model call failed for a reason that retrying will not fix."""

    def __init__(self, message: str, *, model: str | None = None) -> None:
        self.model = model
        super().__init__(message)


class TransientError(ModelError):
    """A dependency failed in a way worth retrying (timeout, 429, 5xx, connection).

    Attributes:
        retry_after: seconds the server asked us to wait, when it said so.
        status_code: the HTTP status, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.status_code = status_code
        super().__init__(message, model=model)


class ContractError(EvalkitError):
    """Data crossing a handoff or tool boundary violates its declared schema.

    Attributes:
        step: the pipeline step or tool whose contract was violated.
        field: the first offending field, when known.
    """

    def __init__(self, message: str, *, step: str, field: str | None = None) -> None:
        self.step = step
        self.field = field
        super().__init__(f"{step}: {message}")


class BudgetExceeded(EvalkitError):
    """A token, step or cost budget was exhausted; the pipeline halts cleanly."""

    def __init__(self, budget: str, *, limit: float, used: float) -> None:
        self.budget = budget
        self.limit = limit
        self.used = used
        super().__init__(f"{budget} budget exceeded: used {used:g} of {limit:g}")
