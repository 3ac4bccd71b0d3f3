"""Suites: YAML files naming a dataset, a target, trials, scorers and a gate."""

from evalkit.suite._load import Suite, load_suite, parse_override, suite_from_dict, suite_hash
from evalkit.suite._spec import RetrySpec, SuiteSpec

__all__ = [
    "RetrySpec",
    "Suite",
    "SuiteSpec",
    "load_suite",
    "parse_override",
    "suite_from_dict",
    "suite_hash",
]
