"""The data block of the HTML report: every case and trial as compact, columnar JSON.

Layout (decoded by ``templates/report.js``):

- ``C``: one entry per case row, in the table's default order (regressions first).
- ``T``: one entry per trial, grouped by case (``C.nt`` trials each), then arm, then trial.
- ``S``: one block per scorer slot (scorer + metric), each a column over all trials.
- ``P``: spans, grouped by trial (``T.np`` spans each; negative when not embedded).
- ``s``: the string table that every index column points into (-1: none).

A column is a list, or a ``{position: value}`` map when it is mostly a default value.
Columns, not objects (100,000 trials as objects repeat every key 100,000 times); counts,
not offsets (a digit, not six). Text is cut to budgets that favour the cases a reviewer
opens first (failing, regressed, improved, erroring), and the original length is kept so
the page says what was cut. Traces of ordinary trials are left out when a run has more
spans than ``max_spans``, and the page says so. Built from numpy code arrays and pyarrow
string kernels: no per-trial Python, no pandas ``take`` over long text columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

    from evalkit.report._data import ReportData

__all__ = ["PayloadLimits", "build_payload", "dump_payload", "water_level"]

STATUS_CODES = {"pass": 0, "fail": 1, "n/a": 2}
FLIP_CODES = {"": 0, "regressed": 1, "improved": 2}
REASONING_KEYS = ("reasoning", "rationale", "explanation", "critique")
Int = np.int64


@dataclass(frozen=True, slots=True)
class PayloadLimits:
    """Budgets of the embedded data.

    Outputs are cut in three tiers, each offered a share of ``output_budget`` (what a tier
    leaves unused passes to the next): 0, the failed trials of cases worth reading first
    (failing, regressed, improved, erroring); 1, their other trials plus one
    representative trial per arm of every other case; 2, everything else.

    Attributes:
        output_budget: characters of model output over all trials.
        tier_shares: share of ``output_budget`` offered to tiers 0, 1 and 2.
        max_output: most characters of one output in tiers 0, 1 and 2.
        min_output: fewest characters a tier-0 output is cut to, whatever the budget.
        judge_budget: characters of judge reasoning over all trials.
        max_judge: most characters of one judge reasoning.
        input_chars: most characters of one case input / expectation.
        reason_chars: most characters of one score reason or error message.
        details_chars: most characters of one score's other details (tier 0 and 1 only).
        attr_chars: most characters of a failed span's attributes.
        max_spans: spans embedded: every trace of the cases worth reading first, in
            table order, then tier 1, then tier 2.
    """

    output_budget: int = 5_000_000
    tier_shares: tuple[float, float, float] = (0.5, 0.35, 0.15)
    max_output: tuple[int, int, int] = (4_000, 2_000, 1_000)
    min_output: int = 200
    judge_budget: int = 1_000_000
    max_judge: int = 1_000
    input_chars: int = 2_000
    reason_chars: int = 300
    details_chars: int = 400
    attr_chars: int = 300
    max_spans: int = 100_000


def water_level(lengths: NDArray[Int], budget: int) -> int:
    """Largest cut L with ``sum(min(len, L)) <= budget``: the longest texts give way first.

    >>> water_level(np.array([10, 100, 1000]), 300)
    190
    """
    if lengths.size == 0:
        return 0
    s = np.sort(lengths)
    csum = np.concatenate([[0], np.cumsum(s)])
    if int(csum[-1]) <= budget:
        return int(s[-1])
    n = s.size
    # Texts shorter than L count fully, the others L each: find the first that is cut.
    levels = (budget - csum[:-1]) // (n - np.arange(n))
    first_cut = int(np.argmax(levels < s))
    return max(0, int(levels[first_cut]))


class _Strings:
    """An append-only string table; columns become arrays of indexes into it."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, text: str) -> int:
        idx = self._index.get(text)
        if idx is None:
            idx = self._index[text] = len(self.items)
            self.items.append(text)
        return idx

    def codes(self, values: pd.Series | list[Any], limit: int | None = None) -> NDArray[Int]:
        """Indexes for a string column (-1 for missing or empty)."""
        import pandas as pd

        codes, uniques = pd.factorize(pd.Series(values, dtype=object)
                                      if isinstance(values, list) else values,
                                      use_na_sentinel=True)
        table = [self.add(_cut(str(u), limit)) if str(u) != "" else -1
                 for u in uniques.tolist()]
        return np.array([*table, -1], dtype=Int)[codes]


def _cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f" … [{len(text) - limit:,} more characters not shown]"


def _lookup(values: pd.Series, mapping: dict[str, int]) -> NDArray[Int]:
    """``mapping[value]`` for each value (-1 when absent), via factorize (fast on Arrow)."""
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.array([*(mapping.get(str(u), -1) for u in uniques.tolist()), -1],
                    dtype=Int)[codes]


def _column(values: NDArray[Any], default: Any) -> list[Any] | dict[str, Any]:
    """A list, or ``{position: value}`` when at most a quarter differs from *default*."""
    idx = np.flatnonzero(values != default)
    if idx.size * 4 > values.size:
        return list(values.tolist())
    return {str(i): v for i, v in zip(idx.tolist(), values[idx].tolist(), strict=True)}


def _ints(values: Any, missing: int = -1) -> list[int]:
    arr = np.asarray(values, dtype=float)
    return list(np.where(np.isfinite(arr), np.rint(arr), missing).astype(Int).tolist())


def _numbers(values: Any, digits: int) -> list[float | int | None]:
    """Rounded numbers; integers without ``.0``; NaN as null."""
    arr = np.round(np.asarray(values, dtype=float), digits)
    finite = np.isfinite(arr)
    if finite.all() and np.array_equal(arr, np.rint(arr)):
        return list(arr.astype(Int).tolist())
    out: list[float | int | None] = list(arr.tolist())
    for i in np.flatnonzero(~finite).tolist():
        out[i] = None
    return out


def _json_text(value: Any, limit: int) -> tuple[str | None, int]:
    if value is None:
        return None, 0
    # Compact (the C encoder; ``indent`` falls back to Python): the page pretty-prints.
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str)
    return text[:limit], len(text)


@dataclass(frozen=True)
class _Trials:
    """Trials of the shown arms in payload order (positions into ``data.trials``)."""

    frame: pd.DataFrame
    rows: NDArray[Int]
    case: NDArray[Int]
    arm: NDArray[Int]
    trial: NDArray[Int]
    key: NDArray[Int]
    n_arms: int
    k_max: int
    arm_pos: dict[str, int]
    case_pos: dict[str, int]

    def numbers(self, column: str) -> NDArray[np.float64]:
        return self.frame[column].to_numpy(dtype=float, na_value=np.nan)[self.rows]

    def locate(self, frame: pd.DataFrame) -> NDArray[Int]:
        """Payload position of the trial each row of *frame* belongs to (-1: none shown)."""
        case = _lookup(frame["case_id"], self.case_pos)
        arm = _lookup(frame["arm"], self.arm_pos)
        trial = frame["trial"].to_numpy(dtype=float, na_value=-1).astype(Int)
        ok = (case >= 0) & (arm >= 0) & (trial >= 0) & (trial < self.k_max)
        k = np.where(ok, (case * self.n_arms + arm) * self.k_max + trial, -1)
        if not self.key.size:
            return np.full(len(k), -1, dtype=Int)
        pos = np.clip(np.searchsorted(self.key, k), 0, self.key.size - 1)
        return np.where(ok & (self.key[pos] == k), pos, -1).astype(Int)


def _trials(data: ReportData, arms: list[str], case_pos: dict[str, int]) -> _Trials:
    frame = data.trials.reset_index(drop=True)
    arm_pos = {a: i for i, a in enumerate(arms)}
    case = _lookup(frame["case_id"], case_pos)
    arm = _lookup(frame["arm"], arm_pos)
    trial = frame["trial"].to_numpy(dtype=float, na_value=-1).astype(Int)
    shown = np.flatnonzero((case >= 0) & (arm >= 0) & (trial >= 0))
    order = shown[np.lexsort((trial[shown], arm[shown], case[shown]))]
    k_max = int(trial[order].max()) + 1 if order.size else 1
    key = (case[order] * len(arms) + arm[order]) * k_max + trial[order]
    return _Trials(frame, order, case[order], arm[order], trial[order], key, len(arms), k_max,
                   arm_pos, case_pos)


def build_payload(data: ReportData, limits: PayloadLimits | None = None) -> dict[str, Any]:
    """The JSON-ready data block of the HTML report."""
    limits = limits or PayloadLimits()
    strings = _Strings()
    for fixed in ("ok", "error", "timeout", "infra_error", "scorer_error", "judge_error"):
        strings.add(fixed)
    arms = [data.candidate_arm] + ([data.baseline_arm] if data.baseline_arm else [])
    rows = data.cases
    case_pos = {row.case_id: i for i, row in enumerate(rows)}
    tags = sorted({t for row in rows for t in row.tags})
    tr = _trials(data, arms, case_pos)
    priority_case = np.array([row.status != "pass" or bool(row.flip) or row.errors > 0
                              for row in rows], dtype=bool)
    priority = priority_case[tr.case] if tr.case.size else np.zeros(0, dtype=bool)

    status = strings.codes(tr.frame["status"])[tr.rows]
    slots, failed = _score_slots(data.scores, tr, strings, limits, priority)
    failed |= status != strings.add("ok")
    tier = _tiers(tr, priority, failed)
    outputs, out_len, cuts = _outputs(tr, tier, limits)

    has_error = (tr.frame["error_type"].notna() | tr.frame["error_message"].notna()).to_numpy()
    err = np.full(len(tr.frame), -1, dtype=Int)
    if has_error.any():
        sub = tr.frame.loc[has_error, ["error_type", "error_message"]]
        text = [": ".join(str(x) for x in pair if isinstance(x, str) and x)
                for pair in zip(sub["error_type"], sub["error_message"], strict=True)]
        err[has_error] = strings.codes(text, limits.reason_chars)
    # Traces: every trial of the cases worth reading first (in table order), then tiers.
    spans, span_counts = _spans(data.spans, tr, strings, limits, np.where(priority, 0, tier))
    cut = np.asarray(cuts, dtype=Int)[tier]
    trials_block = {
        "arm": _column(tr.arm, 0), "k": _trial_numbers(tr),
        "st": _column(status, 0),
        "lat": _ints(tr.numbers("latency_s") * 1000),
        "it": _ints(tr.numbers("input_tokens"), 0), "ot": _ints(tr.numbers("output_tokens"), 0),
        "cost": _numbers(tr.numbers("cost_usd") * 1e6, 1),
        "att": _column(np.nan_to_num(tr.numbers("attempts"), nan=1).astype(Int), 1),
        "err": _column(err[tr.rows], -1),
        "out": outputs, "olen": _column(np.where(out_len > cut, out_len, 0), 0),
        "np": span_counts,
    }
    return {
        "v": 1, "arms": arms, "armLabels": _arm_labels(data, arms), "tags": tags,
        "rule": data.case_rule, "hasInputs": data.inputs is not None,
        "limits": {"output": list(cuts), "input": limits.input_chars,
                   "maxSpans": limits.max_spans},
        "C": _cases(data, {t: i for i, t in enumerate(tags)}, tr, strings, limits),
        "T": trials_block, "S": slots, "P": spans, "s": strings.items,
    }


def _trial_numbers(tr: _Trials) -> list[int] | dict[str, int]:
    """Trial numbers, as a map of the positions where they are not 0, 1, 2… per arm."""
    n = tr.trial.size
    if not n:
        return {}
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (tr.case[1:] != tr.case[:-1]) | (tr.arm[1:] != tr.arm[:-1])
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    expected = np.arange(n) - group_start
    return _column(np.where(tr.trial != expected, tr.trial, -1), -1)


def _tiers(tr: _Trials, priority: NDArray[np.bool_], failed: NDArray[np.bool_]) -> NDArray[Int]:
    """The text tier of each trial (see :class:`PayloadLimits`).

    0: failed trials of priority cases; 1: their other trials and the first trial of each
    (case, arm) elsewhere; 2: the rest.
    """
    n = tr.trial.size
    first = np.ones(n, dtype=bool)
    if n:
        first[1:] = (tr.case[1:] != tr.case[:-1]) | (tr.arm[1:] != tr.arm[:-1])
    return np.where(priority & failed, 0, np.where(priority | first, 1, 2)).astype(Int)


def _outputs(tr: _Trials, tier: NDArray[Int], limits: PayloadLimits,
             ) -> tuple[list[str | None], NDArray[Int], tuple[int, int, int]]:
    """Outputs cut to the budget, their full lengths, and the cut of each tier.

    Cut first, reorder after: Arrow's ``take`` over the uncut text is the slow part.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pa.array(tr.frame["output"], from_pandas=True)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = column.cast(pa.large_string())
    all_lengths = pc.utf8_length(column).to_numpy(zero_copy_only=False)
    all_lengths = np.nan_to_num(all_lengths.astype(float), nan=0).astype(Int)
    lengths = all_lengths[tr.rows]
    cuts: list[int] = []
    carry = 0.0
    for t in range(3):
        in_tier = lengths[tier == t]
        budget = int(limits.output_budget * limits.tier_shares[t] + carry)
        cut = min(limits.max_output[t], water_level(in_tier, budget))
        if t == 0:
            cut = max(cut, limits.min_output)
        if t > 0 and cuts:
            cut = min(cut, cuts[-1])  # a lower tier never shows more than a higher one
        used = int(np.minimum(in_tier, cut).sum())
        carry = max(0.0, budget - used)
        cuts.append(cut)
    tier_all = np.full(len(column), 2, dtype=Int)
    tier_all[tr.rows] = tier
    cut_column = pc.utf8_slice_codeunits(column, 0, cuts[2])
    for t in (1, 0):
        cut_column = pc.if_else(pa.array(tier_all == t),
                                pc.utf8_slice_codeunits(column, 0, cuts[t]), cut_column)
    return (cut_column.take(pa.array(tr.rows)).to_pylist(), lengths,
            (cuts[0], cuts[1], cuts[2]))


def _cases(data: ReportData, tag_pos: dict[str, int], tr: _Trials, strings: _Strings,
           limits: PayloadLimits) -> dict[str, Any]:
    rows = data.cases
    inputs = data.inputs or {}
    inp: list[str | None] = []
    inp_len: list[int] = []
    exp: list[str | None] = []
    exp_len: list[int] = []
    for row in rows:
        value, expected = inputs.get(row.case_id, (None, None))
        text, n = _json_text(value, limits.input_chars)
        inp.append(text)
        inp_len.append(n)
        text, n = _json_text(expected, limits.input_chars) if expected else (None, 0)
        exp.append(text)
        exp_len.append(n)
    return {
        "id": [r.case_id for r in rows],
        "tags": [[tag_pos[x] for x in r.tags] for r in rows],
        "st": [STATUS_CODES.get(r.status, 2) for r in rows],
        "fl": [FLIP_CODES.get(r.flip, 0) for r in rows],
        "cs": [r.successes for r in rows], "cn": [r.n for r in rows],
        "bs": [-1 if r.base_successes is None else r.base_successes for r in rows],
        "bn": [-1 if r.base_n is None else r.base_n for r in rows],
        "err": [r.errors for r in rows], "te": [r.tool_errors for r in rows],
        "why": [strings.add(r.reason) if r.reason else -1 for r in rows],
        "nt": np.bincount(tr.case, minlength=len(rows)).tolist() if rows else [],
        "inp": inp, "ilen": inp_len, "exp": exp, "elen": exp_len,
    }


def _arm_labels(data: ReportData, arms: list[str]) -> list[str]:
    if data.mode == "stored" and data.baseline_run is not None:
        return [f"candidate ({data.run.run_id})", f"baseline ({data.baseline_run.run_id})"]
    return list(arms)


def _score_slots(
    scores: pd.DataFrame, tr: _Trials, strings: _Strings, limits: PayloadLimits,
    priority: NDArray[np.bool_],
) -> tuple[list[dict[str, Any]], NDArray[np.bool_]]:
    """One dense block per (scorer, metric); also which trials a completion scorer failed."""
    n = len(tr.key)
    failed = np.zeros(n, dtype=bool)
    if not len(scores):
        return [], failed
    scores = scores.reset_index(drop=True)
    pos = tr.locate(scores)
    scorer = strings.codes(scores["scorer"])
    metric = strings.codes(scores["metric"])
    status = strings.codes(scores["status"])
    reason = strings.codes(scores["reason"], limits.reason_chars)
    value = scores["value"].to_numpy(dtype=float, na_value=np.nan)
    passed_raw = scores["passed"].astype(object).to_numpy()
    passed = np.where(passed_raw == True, 1, np.where(passed_raw == False, 0, -1))  # noqa: E712
    completion = scores["completion"].astype(object).to_numpy() == True  # noqa: E712
    has_details = scores["details"].notna().to_numpy()
    slot = scorer * (len(strings.items) + 1) + metric
    blocks: list[dict[str, Any]] = []
    judged: list[tuple[dict[str, Any], NDArray[Int], NDArray[Int]]] = []
    for key in dict.fromkeys(slot[pos >= 0].tolist()):
        rows = np.flatnonzero((slot == key) & (pos >= 0))
        at, first = np.unique(pos[rows], return_index=True)  # one score per trial and slot
        rows = rows[first]

        def dense(values: NDArray[Any], fill: Any, at: NDArray[Int] = at,
                  rows: NDArray[Int] = rows) -> NDArray[Any]:
            out = np.full(n, fill, dtype=values.dtype)
            out[at] = values[rows]
            return out

        ok = dense(passed, -1)
        v = dense(value, np.nan)
        is_completion = bool(completion[rows].any())
        if is_completion:
            failed |= ok == 0
        block: dict[str, Any] = {
            "sc": strings.items[int(scorer[rows[0]])], "m": strings.items[int(metric[rows[0]])],
            "c": int(is_completion), "ok": ok.tolist(),
            "st": _column(dense(status, strings.add("ok")), strings.add("ok")),
            "r": dense(reason, -1).tolist(),
        }
        # Binary scorers: the value is the pass flag; say so instead of repeating it.
        binary = np.isnan(v) | (v == np.where(ok == 1, 1.0, np.where(ok == 0, 0.0, np.nan)))
        if not binary.all():
            block["v"] = _numbers(v, 4)
        with_details = rows[has_details[rows]]
        if with_details.size:
            judged.append((block, pos[with_details], with_details))
        blocks.append(block)
    if judged:
        _details(scores, judged, n, strings, limits, priority)
    return blocks, failed


def _details(scores: pd.DataFrame,
             judged: list[tuple[dict[str, Any], NDArray[Int], NDArray[Int]]], n: int,
             strings: _Strings, limits: PayloadLimits, priority: NDArray[np.bool_]) -> None:
    """Judge reasoning and other details of every slot that has details.

    ``j``: the reasoning, all cut to one length that fits ``judge_budget``; ``d``: the
    remaining details as compact JSON, for priority trials only.
    """
    import pandas as pd

    every = np.concatenate([rows for _, _, rows in judged])
    codes, uniques = pd.factorize(scores["details"].iloc[every], use_na_sentinel=True)
    split = [_split_details(str(u), limits.details_chars) for u in uniques]
    reasonings = [why or "" for why, _ in split]
    lengths = np.array([len(t) for t in dict.fromkeys(reasonings)], dtype=Int)
    level = max(limits.min_output,
                min(limits.max_judge, water_level(lengths, limits.judge_budget)))
    why_codes = np.array([strings.add(_cut(t, level)) if t else -1 for t in reasonings] + [-1],
                         dtype=Int)
    other_codes = np.array([strings.add(_cut(o, limits.details_chars)) if o else -1
                            for _, o in split] + [-1], dtype=Int)
    offset = 0
    for block, at, rows in judged:
        part = codes[offset: offset + rows.size]
        offset += rows.size
        j = np.full(n, -1, dtype=Int)
        j[at] = why_codes[part]
        d = np.full(n, -1, dtype=Int)
        d[at] = np.where(priority[at], other_codes[part], -1)
        block["j"] = _column(j, -1)
        block["d"] = _column(d, -1)


def _split_details(text: str, limit: int) -> tuple[str | None, str | None]:
    try:
        value = json.loads(text)
    except ValueError:
        return None, text[: limit * 2]
    if not isinstance(value, dict):
        return None, json.dumps(value, ensure_ascii=False)[: limit * 2]
    why = next((str(value[k]) for k in REASONING_KEYS if value.get(k)), None)
    other = {k: v for k, v in value.items() if k not in REASONING_KEYS}
    return why, (json.dumps(other, ensure_ascii=False, default=str) if other else None)


def _spans(spans: pd.DataFrame, tr: _Trials, strings: _Strings, limits: PayloadLimits,
           rank: NDArray[Int]) -> tuple[dict[str, Any], list[int]]:
    """Span columns of the embedded traces, and the span count of each trial.

    The count is negative for a trial whose trace was left out (over ``max_spans``).
    """
    n_trials = len(tr.key)
    if not len(spans):
        return {k: [] for k in ("n", "t", "d", "e", "it", "ot", "rt", "dp", "ev", "a")}, \
            [0] * n_trials
    spans = spans.reset_index(drop=True)
    owner_all = tr.locate(spans)
    counts = np.bincount(owner_all[owner_all >= 0], minlength=n_trials)
    embed = np.ones(n_trials, dtype=bool)
    if counts.sum() > limits.max_spans:
        by_priority = np.lexsort((np.arange(n_trials), rank))
        embed[:] = False
        embed[by_priority[np.cumsum(counts[by_priority]) <= limits.max_spans]] = True
    start_all = spans["start_time"].to_numpy(dtype=float, na_value=np.nan)
    rows = np.flatnonzero((owner_all >= 0) & embed[np.maximum(owner_all, 0)])
    rows = rows[np.lexsort((start_all[rows], owner_all[rows]))]
    owner, start = owner_all[rows], start_all[rows]
    first = np.full(n_trials, np.inf)
    np.minimum.at(first, owner, np.where(np.isfinite(start), start, np.inf))
    rel = (start - first[owner]) * 1000
    dur = spans["duration_s"].to_numpy(dtype=float, na_value=np.nan)[rows] * 1000
    status_err = (spans["status"].astype(object) == "ERROR").to_numpy()
    err_type = strings.codes(spans["error_type"])
    is_err = status_err | (err_type >= 0)
    err_label = np.where(err_type >= 0, err_type, np.where(is_err, strings.add("error"), -1))
    retries = np.zeros(len(spans), dtype=Int)
    ev_codes = np.full(len(spans), -1, dtype=Int)
    has_events = spans["events"].notna().to_numpy()
    if has_events.any():
        events = spans["events"][has_events].astype(str)
        retries[has_events] = events.str.count(r'"name":\s*"retry"').to_numpy(dtype=Int)
        names = events.str.findall(r'"name":\s*"([^"]*)"').map(
            lambda xs: ", ".join(dict.fromkeys(x for x in xs if x != "retry")))
        ev_codes[has_events] = strings.codes(names, 200)
    attrs = np.full(len(spans), -1, dtype=Int)
    if is_err.any():
        attrs[is_err] = strings.codes(spans["attributes"][is_err], limits.attr_chars)
    shown = np.where(embed, counts, -counts)
    return {
        "n": strings.codes(spans["name"])[rows].tolist(), "t": _ints(rel, 0),
        "d": _ints(dur, 0), "e": _column(err_label[rows], -1),
        "it": _ints(spans["input_tokens"].to_numpy(dtype=float, na_value=0)[rows], 0),
        "ot": _ints(spans["output_tokens"].to_numpy(dtype=float, na_value=0)[rows], 0),
        "rt": _column(retries[rows], 0), "dp": _column(_depths(spans, rows, owner), 0),
        "ev": _column(ev_codes[rows], -1), "a": _column(attrs[rows], -1),
    }, shown.tolist()


def _depths(spans: pd.DataFrame, rows: NDArray[Int], owner: NDArray[Int]) -> NDArray[Int]:
    """Nesting depth of each embedded span under its recorded parents (0: top level)."""
    parents = spans["parent_span_id"].iloc[rows].tolist()
    if not any(isinstance(p, str) for p in parents):
        return np.zeros(rows.size, dtype=Int)
    position = {sid: i for i, sid in enumerate(spans["span_id"].iloc[rows].tolist())}
    parent = np.array([position.get(p, -1) if isinstance(p, str) else -1 for p in parents],
                      dtype=Int)
    parent = np.where((parent >= 0) & (owner[np.maximum(parent, 0)] == owner), parent, -1)
    depth = np.zeros(rows.size, dtype=Int)
    cur = parent.copy()
    for _ in range(64):
        live = cur >= 0
        if not live.any():
            break
        depth[live] += 1
        cur[live] = parent[cur[live]]
    return depth


def dump_payload(payload: dict[str, Any]) -> str:
    r"""JSON safe to place inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` only occur inside JSON strings, where their ``\\u`` escapes mean
    the same; with them escaped no payload can close the script element or open a comment.
    """
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
