"""``evalkit judge``: measure an LLM judge against human labels.

``evalkit judge calibrate --labels datasets/pydocs_judge_labels --judge judges/x.yaml``
runs the judge on every labelled answer and reports Cohen's κ, Krippendorff's α,
sensitivity q₁, specificity q₀ and accuracy, each with a confidence interval, plus the
confusion matrix; the record is saved under the judge spec's hash so scorers and
reports can say whether the judge is calibrated.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from evalkit._cli._common import emit_json, format_option, handle_errors

_LABELS = {
    "kappa": "Cohen's κ",
    "alpha": "Krippendorff's α (nominal)",
    "sensitivity": "sensitivity q₁",
    "specificity": "specificity q₀",
    "accuracy": "accuracy (verdict)",
    "binary_accuracy": "accuracy (pass/fail)",
    "judge_pass_rate": "judge pass rate",
    "human_pass_rate": "human pass rate",
}


@click.group(name="judge")
def judge() -> None:
    """Calibrate an LLM judge against human labels."""


@judge.command()
@click.option("--labels", "labels_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Labels dataset: input.question, input.answer, expected.verdict.")
@click.option("--judge", "judge_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Judge spec YAML.")
@click.option("--model", help="Judge model (default: the spec's model), e.g. local.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N labelled rows.")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the judge samples and of the bootstrap.")
@click.option("--n-boot", type=click.IntRange(min=100), default=2000, show_default=True,
              help="Bootstrap resamples for the κ and α intervals.")
@click.option("--cache", "cache_mode", type=click.Choice(["off", "read-write", "read-only"]),
              default="off", show_default=True, help="Model response cache.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to save the record (default: <judge dir>/.calibration).")
@click.option("--save/--no-save", default=True, show_default=True,
              help="Save the calibration record.")
@format_option
@handle_errors
def calibrate(labels_dir: Path, judge_path: Path, model: str | None, limit: int | None,
              concurrency: int, seed: int, n_boot: int, cache_mode: str,
              out_dir: Path | None, save: bool, output_format: str) -> None:
    """Run the judge on every labelled row and report agreement with the humans."""
    from evalkit.dataset import load_dataset
    from evalkit.errors import ConfigError
    from evalkit.scorer import Judge, calibration_status, load_judge_spec
    from evalkit.scorer._calibrate import calibrate as run_calibration
    from evalkit.scorer._calibrate import save_calibration

    try:
        spec, spec_file = load_judge_spec(judge_path)
    except ValueError as exc:
        raise ConfigError(str(exc), path=judge_path) from None
    judge_model = model or spec.model
    if not judge_model:
        raise ConfigError("no judge model: pass --model (e.g. --model local) or set 'model' "
                          "in the judge spec", path=judge_path, key="model")
    dataset = load_dataset(labels_dir)
    runner = Judge(spec, judge_model, cache_dir=".evalkit-cache" if cache_mode != "off" else None,
                   cache_mode=cache_mode)
    tty = sys.stderr.isatty()
    step = 1 if tty else 10

    def progress(done: int, total: int) -> None:
        # A live counter on a terminal; a line every 10 rows in CI logs.
        if output_format == "text" and (done % step == 0 or done == total):
            click.echo(f"\rjudged {done}/{total}" if tty else f"judged {done}/{total}",
                       nl=not tty or done == total, err=True)

    record = asyncio.run(run_calibration(
        runner, dataset, concurrency=concurrency, seed=seed, n_boot=n_boot, limit=limit,
        progress=progress))
    status, message = calibration_status(record)
    saved = None
    if save and record["n"]:
        saved = save_calibration(record, out_dir or spec_file.parent / ".calibration")
    if output_format == "json":
        emit_json(_json(record, status, message, saved))
    else:
        _echo(record, message, saved)


def _json(record: dict[str, Any], status: str, message: str, saved: Path | None) -> dict[str, Any]:
    n = record["n"]
    metrics = {name: {"estimate": m["estimate"], "ci_low": m["ci_low"], "ci_high": m["ci_high"],
                      "n_cases": m["n"], "n_trials": m["n"]}
               for name, m in record["metrics"].items()}
    return {
        "status": status, "message": message, "metrics": metrics,
        "judge": record["judge"], "spec_hash": record["spec_hash"], "model": record["model"],
        "params": record["params"], "labels": record["labels"], "n": n,
        "n_errors": record["n_errors"], "confusion": record.get("confusion"),
        "binary_confusion": record.get("binary_confusion"), "positive": record["positive"],
        "bootstrap": record["bootstrap"], "wall_s": record["wall_s"],
        "saved": str(saved) if saved else None,
    }


def _fmt(m: dict[str, Any]) -> str:
    if m["estimate"] is None:
        return "undefined"
    if m["ci_low"] is None:
        return f"{m['estimate']:.3f}"
    return f"{m['estimate']:.3f}  [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def _echo(record: dict[str, Any], message: str, saved: Path | None) -> None:
    from evalkit._cli._render import echo_table

    labels = record["labels"]
    click.secho(f"judge {record['judge']} ({record['spec_hash'][:19]}…) with model "
                f"{record['model']}", bold=True)
    click.echo(f"labels {labels['name']}@{labels['version']}: {labels['n']} rows, "
               f"{record['n']} judged, {record['n_errors']} judge errors (left out); "
               f"{record['wall_s']:.1f} s")
    if not record["metrics"]:
        click.echo("no row could be judged; nothing to report")
        return
    conf = record["bootstrap"]["confidence"]
    rows = [(_LABELS[k], _fmt(m), str(m["n"])) for k, m in record["metrics"].items()]
    echo_table(rows, ("figure", f"estimate  [{conf:.0%} CI]", "n"))
    click.echo(f"κ and α: percentile bootstrap ({record['bootstrap']['n_boot']} resamples, "
               f"seed {record['bootstrap']['seed']}); proportions: Wilson. "
               f"Pass = {', '.join(record['positive'])}.")
    cats = record["confusion"]["categories"]
    matrix = record["confusion"]["matrix"]
    click.echo("\nconfusion (rows: human, columns: judge)")
    echo_table([(c, *[str(v) for v in row]) for c, row in zip(cats, matrix, strict=True)],
               ("human \\ judge", *cats))
    click.echo("")
    click.echo(message)
    if saved:
        click.echo(f"saved {saved}")
