"""``evalkit dataset``: list, show, validate, diff and freeze versioned datasets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from evalkit._cli._common import ExitCode, emit_json, format_option, handle_errors


@click.group()
def dataset() -> None:
    """Versioned ground truth: datasets/<name>/dataset.yaml + cases.jsonl."""


def _folder(ref: str, root: str) -> Path:
    path = Path(ref)
    if path.is_dir():
        return path
    name = ref.split("@", 1)[0]
    return Path(root) / name


@dataset.command("list")
@click.option("--root", default="datasets", show_default=True, type=click.Path())
@format_option
@handle_errors
def list_cmd(root: str, output_format: str) -> None:
    """Every dataset with its version, size, content hash and frozen versions."""
    from evalkit.dataset import list_datasets

    items = list_datasets(root)
    if output_format == "json":
        emit_json({"datasets": items})
        return
    if not items:
        click.echo(f"no datasets under {root}")
    for item in items:
        if "error" in item:
            click.echo(f"{item['name']:<24} INVALID  {item['error'].splitlines()[0]}")
            continue
        frozen = ", ".join(item["frozen"]) or "-"
        click.echo(
            f"{item['name']:<24} {item['version']:<10} {item['n_cases']:>6} cases  "
            f"{item['hash'][:19]}  frozen: {frozen}"
        )


@dataset.command()
@click.argument("ref")
@click.option("--root", default="datasets", show_default=True, type=click.Path())
@click.option(
    "--cases", "show_cases", type=int, default=5, show_default=True, help="How many cases to print."
)
@format_option
@handle_errors
def show(ref: str, root: str, show_cases: int, output_format: str) -> None:
    """Describe dataset REF (a name, name@version, name@sha256:… or a folder)."""
    from collections import Counter

    from evalkit.dataset import resolve_pin

    ds = resolve_pin(ref, root) if not Path(ref).is_dir() else _load(ref)
    tags = Counter(t for c in ds.cases for t in c.tags)
    clusters = Counter(ds.cluster_of(c) for c in ds.cases)
    info: dict[str, Any] = {
        **ds.identity(),
        "description": ds.spec.description,
        "tags": dict(tags),
        "clusters": {str(k): v for k, v in clusters.items()},
        "cases": [c.model_dump(mode="json") for c in ds.cases[:show_cases]],
    }
    if output_format == "json":
        emit_json(info)
        return
    click.echo(f"{ds.name}@{ds.version}  {len(ds)} cases  {ds.hash}")
    if ds.spec.description:
        click.echo(ds.spec.description.strip())
    click.echo("tags: " + ", ".join(f"{k}={v}" for k, v in tags.most_common()))
    click.echo("clusters: " + ", ".join(f"{k}={v}" for k, v in clusters.most_common()))
    for case in ds.cases[:show_cases]:
        click.echo(f"  {case.id}: {str(case.input)[:100]}")


def _load(folder: str) -> Any:
    from evalkit.dataset import load_dataset

    return load_dataset(folder)


@dataset.command()
@click.argument("ref")
@click.option("--root", default="datasets", show_default=True, type=click.Path())
@format_option
@handle_errors
def validate(ref: str, root: str, output_format: str) -> None:
    """Check dataset REF and report every problem at once (exit 2 if any)."""
    from evalkit.dataset import validate_dataset

    folder = _folder(ref, root)
    problems = validate_dataset(folder)
    if output_format == "json":
        emit_json(
            {
                "dataset": str(folder),
                "valid": not problems,
                "problems": [
                    {
                        "path": str(p.path) if p.path else None,
                        "line": p.line,
                        "field": p.field,
                        "message": p.message,
                    }
                    for p in problems
                ],
            }
        )
    elif problems:
        click.echo(f"{folder}: {len(problems)} problem(s)", err=True)
        for p in problems:
            click.echo(f"  {p}", err=True)
    else:
        click.echo(f"{folder}: valid")
    if problems:
        sys.exit(ExitCode.USAGE_ERROR)


@dataset.command()
@click.argument("old")
@click.argument("new")
@click.option("--root", default="datasets", show_default=True, type=click.Path())
@format_option
@handle_errors
def diff(old: str, new: str, root: str, output_format: str) -> None:
    """Cases added, removed and changed (by id) between OLD and NEW.

    Each side is a folder, a name (working copy) or name@version (frozen snapshot).
    """
    from evalkit.dataset import diff_cases, resolve_pin

    a = _load(old) if Path(old).is_dir() else resolve_pin(old, root)
    b = _load(new) if Path(new).is_dir() else resolve_pin(new, root)
    change = diff_cases(a.cases, b.cases)
    if output_format == "json":
        emit_json({"old": a.identity(), "new": b.identity(), **change.to_dict()})
        return
    click.echo(
        f"{a.name}@{a.version} ({a.hash[:19]}) -> {b.name}@{b.version} ({b.hash[:19]}): "
        f"{change.summary()}"
    )
    for cid in change.added:
        click.echo(f"  + {cid}")
    for cid in change.removed:
        click.echo(f"  - {cid}")
    for cid, fields in change.changed.items():
        click.echo(f"  ~ {cid} ({', '.join(fields)})")


@dataset.command()
@click.argument("ref")
@click.option("--root", default="datasets", show_default=True, type=click.Path())
@handle_errors
def freeze(ref: str, root: str) -> None:
    """Write a Parquet snapshot of REF's current version and record it in the lock."""
    from evalkit.dataset import freeze_dataset

    ds = _load(str(_folder(ref, root)))
    snap = freeze_dataset(ds)
    click.echo(f"froze {ds.name}@{ds.version} ({ds.hash}) -> {snap}")
