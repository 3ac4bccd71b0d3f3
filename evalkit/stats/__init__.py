"""Statistics for repeated-trial evals: intervals, paired comparisons, power, sequential.

Everything follows STATISTICS.md: reduce per case first, pair by case, seed every RNG.

Example:
    >>> from evalkit.stats import wilson_interval
    >>> iv = wilson_interval(17, 20)
    >>> round(iv.low, 3), round(iv.high, 3)
    (0.64, 0.948)
"""

from __future__ import annotations

from evalkit.stats._compare import Comparison, TagDelta, compare_frames, compare_runs
from evalkit.stats._deltas import DeltaEstimate, paired_delta
from evalkit.stats._estimates import MetricEstimate
from evalkit.stats._intervals import (
    ClusteredMean,
    Interval,
    clopper_pearson_interval,
    clustered_mean,
    design_effect,
    effective_rate_interval,
    t_interval,
    wilson_interval,
)
from evalkit.stats._metrics import (
    RatioEstimate,
    metric_direction,
    pass_at_k,
    pass_hat_k,
    ratio_estimate,
)
from evalkit.stats._paired import (
    BootstrapTest,
    McNemarTest,
    PairedTest,
    PairedTTest,
    SignFlipTest,
    benjamini_hochberg,
    holm,
    mcnemar_exact,
)
from evalkit.stats._power import (
    DEFAULT_ARM_CORRELATION,
    VarianceComponents,
    components_from_paired,
    components_from_single_run,
    minimum_detectable_effect,
    paired_sample_size,
    sample_size_table,
    unpaired_sample_size,
)
from evalkit.stats._sequential import (
    LookRecord,
    SequentialPlan,
    SequentialResult,
    obrien_fleming_boundaries,
    obrien_fleming_spending,
    sequential_decision,
)
from evalkit.stats._summary import CaseOutcome, RunSummary, summarize_run
from evalkit.stats._trials import CaseValues, MissingPolicy

__all__ = [
    "DEFAULT_ARM_CORRELATION",
    "BootstrapTest",
    "CaseOutcome",
    "CaseValues",
    "ClusteredMean",
    "Comparison",
    "DeltaEstimate",
    "Interval",
    "LookRecord",
    "McNemarTest",
    "MetricEstimate",
    "MissingPolicy",
    "PairedTTest",
    "PairedTest",
    "RatioEstimate",
    "RunSummary",
    "SequentialPlan",
    "SequentialResult",
    "SignFlipTest",
    "TagDelta",
    "VarianceComponents",
    "benjamini_hochberg",
    "clopper_pearson_interval",
    "clustered_mean",
    "compare_frames",
    "compare_runs",
    "components_from_paired",
    "components_from_single_run",
    "design_effect",
    "effective_rate_interval",
    "holm",
    "mcnemar_exact",
    "metric_direction",
    "minimum_detectable_effect",
    "obrien_fleming_boundaries",
    "obrien_fleming_spending",
    "paired_delta",
    "paired_sample_size",
    "pass_at_k",
    "pass_hat_k",
    "ratio_estimate",
    "sample_size_table",
    "sequential_decision",
    "summarize_run",
    "t_interval",
    "unpaired_sample_size",
    "wilson_interval",
]
