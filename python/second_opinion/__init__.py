"""second-opinion from Python: the score registry over the same Rust core as
the ``second-opinion`` command line (no second implementation, no
subprocess).

    import second_opinion as so

    with so.Registry("scores.db") as registry:
        registry.ingest("dover=runs/dover.jsonl", "musiq=runs/musiq.jsonl")
        enriched = registry.export(features)   # a pyarrow Table

Tables go in through the Arrow PyCapsule interface (``__arrow_c_stream__``:
pyarrow, polars, DuckDB …; pandas through pyarrow) or as paths, and come
back as ``pyarrow.Table``. Answers the command line prints with ``--json``
come back as the same dicts and lists. Every failure is a
``SecondOpinionError`` (``DataError`` or ``UsageError``) carrying the
command line's message. See docs/python.md.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence, Union

import pyarrow as pa

from . import _native
from ._native import DataError, SecondOpinionError, UsageError

__all__ = [
    "Registry",
    "IngestReport",
    "ExportResult",
    "materialize",
    "audit",
    "default_registry",
    "SecondOpinionError",
    "DataError",
    "UsageError",
    "__version__",
]

__version__: str = _native.TOOL_VERSION

PathLike = Union[str, "os.PathLike[str]"]


def default_registry() -> str:
    """The registry the command line uses without ``--registry``:
    ``$SECOND_OPINION_REGISTRY``, else ``second-opinion.db`` in the working
    directory."""
    return os.environ.get("SECOND_OPINION_REGISTRY") or _native.DEFAULT_REGISTRY


def _table_argument(table: Any) -> Any:
    """A path (``str``/``os.PathLike``) as it is, an object exporting an
    Arrow stream as it is, and a pandas DataFrame through pyarrow (pandas
    has no ``__arrow_c_stream__`` of its own)."""
    if isinstance(table, (str, os.PathLike)):
        return os.fspath(table)
    if hasattr(table, "__arrow_c_stream__"):
        return table
    module = type(table).__module__ or ""
    if module.startswith("pandas"):
        return pa.Table.from_pandas(table, preserve_index=False)
    # A DuckDB relation without the capsule method (older DuckDB).
    if hasattr(table, "arrow") and module.startswith("duckdb"):
        return table.arrow()
    return table


def _optional_path(path: PathLike | None) -> str | None:
    return None if path is None else os.fspath(path)


def _raise(message: str, usage: bool) -> None:
    raise (UsageError if usage else DataError)(message)


@dataclass(frozen=True)
class IngestReport:
    """What ``Registry.ingest`` did, file by file.

    ``files`` holds one entry per path, exactly as ``ingest --report-json``
    writes it (``status`` ``ingested``/``already_ingested``/``nothing_new``/
    ``failed``, the per-scorer ``scorers`` counts, ``totals``, ``warnings``,
    ``notes``, ``error``). The properties add up the ingested files."""

    files: list[dict[str, Any]]
    failed_files: int

    def _total(self, name: str) -> int:
        return sum(entry.get("totals", {}).get(name, 0) for entry in self.files)

    @property
    def rows(self) -> int:
        """Rows written and now live (ok and bad), over every file."""
        return self._total("ingested")

    @property
    def bad(self) -> int:
        """Of those, rows stored with status ``bad``."""
        return self._total("bad")

    @property
    def replaced(self) -> int:
        """Rows that superseded a live row (``replace=True``)."""
        return self._total("replaced")

    @property
    def ignored(self) -> int:
        """Rows left out because their key was already live (``ignore=True``)."""
        return self._total("ignored")

    @property
    def skipped(self) -> int:
        """Rows left out because the same bytes were already ingested."""
        return self._total("skipped")

    @property
    def warnings(self) -> dict[str, list[Any]]:
        """The suspicious-output warnings of each file, by path."""
        return {entry["path"]: entry.get("warnings", []) for entry in self.files}


class IngestError(DataError):
    """Some files were not ingested (the others were, each in its own
    transaction). ``report`` is the ``IngestReport`` of the whole call."""

    report: IngestReport


class IngestUsageError(UsageError):
    """Every refused file was a usage mistake (a format that cannot be
    told, an option the file cannot take). ``report`` as ``IngestError``."""

    report: IngestReport


@dataclass(frozen=True)
class ExportResult:
    """The last export of a ``Registry``: the id of its record in the
    registry (``None`` with ``record=False``), the report
    ``export --report-json`` writes, and its warnings."""

    id: int | None
    report: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class Registry:
    """A score registry (an SQLite file, or a ``postgresql://`` URL).

    ``Registry(path=None)`` uses ``default_registry()``, as the command line
    does. The file is opened on the first call: ``ingest`` creates it, every
    other call needs it to exist. Use it as a context manager (or call
    ``close()``) to close the connection."""

    def __init__(self, path: PathLike | None = None) -> None:
        self._native = _native.NativeRegistry(
            os.fspath(path) if path is not None else default_registry()
        )
        self.last_export: ExportResult | None = None

    @property
    def path(self) -> str:
        """The registry's path as given."""
        return os.fspath(self._native.path)

    def close(self) -> None:
        """Close the connection; a later call opens it again."""
        self._native.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.path!r})"

    def ingest(
        self,
        *paths: PathLike,
        scorer: str | None = None,
        replace: bool = False,
        ignore: bool = False,
        strict: bool = False,
        scale: str | None = None,
        scorer_version: str | None = None,
        format: str | None = None,
        score_key_field: str | None = None,
        score_field: str | None = None,
        key: str | None = None,
        metric: str | None = None,
        key_normalize: str = "auto",
        key_strip_prefix: str | None = None,
        higher_is_better: bool | None = None,
        force_scale: bool = False,
        frame_base: int | None = None,
    ) -> IngestReport:
        """Ingest score files (``[LABEL=]PATH``), each in its own
        transaction, as ``second-opinion ingest`` does with the same flags.

        Raises ``IngestError`` (a ``DataError``; ``IngestUsageError`` when
        every refused file was a usage mistake) when a file was refused:
        its message is each file's error, then the command's closing line
        (``1 of 2 files not ingested``); ``.report`` tells what the other
        files did."""
        if not paths:
            raise UsageError("ingest: give at least one score file")
        answer = json.loads(
            self._native.ingest(
                [os.fspath(p) for p in paths],
                scorer=scorer,
                scorer_version=scorer_version,
                format=format,
                score_key_field=score_key_field,
                score_field=score_field,
                key=key,
                metric=metric,
                key_normalize=key_normalize,
                key_strip_prefix=key_strip_prefix,
                scale=scale,
                higher_is_better=higher_is_better,
                force_scale=force_scale,
                frame_base=frame_base,
                replace=replace,
                ignore=ignore,
                strict=strict,
            )
        )
        report = IngestReport(files=answer["files"], failed_files=answer["failed_files"])
        if answer["message"] is not None:
            errors = [e["error"] for e in report.files if e.get("status") == "failed"]
            error = (IngestUsageError if answer["usage"] else IngestError)(
                "\n".join(errors + [answer["message"]])
            )
            error.report = report
            raise error
        return report

    def export(
        self,
        table: Any,
        *,
        out: PathLike | None = None,
        features_name: str | None = None,
        scorers: Sequence[str] | None = None,
        key_column: str | None = None,
        key_normalize: str | None = None,
        missing_policy: str = "mark",
        bad_policy: str = "mark",
        prefix: str = "second_opinion",
        overwrite: bool = False,
        out_format: str | None = None,
        normalize: bool = False,
        components: bool = True,
        columns: Sequence[str] | None = None,
        frame_column: str | None = None,
        frame_base: int | None = None,
        frame_match: str = "exact",
        max_frame_gap: int | None = None,
        pool: Sequence[str] = (),
        as_of: str | int | None = None,
        csv_safe: bool = False,
        record: bool = True,
        note: str | None = None,
        tag: str | None = None,
        stream: bool = False,
    ) -> pa.Table | pa.RecordBatchReader | None:
        """Join the registry's scores onto ``table`` as namespaced
        ``<prefix>_<slug>_*`` columns, as ``second-opinion export`` does.

        ``table``: a pyarrow Table or RecordBatchReader, a polars or pandas
        DataFrame, a DuckDB relation, anything with ``__arrow_c_stream__``,
        or a path to a feature table file. Returns the enriched table as a
        ``pyarrow.Table``; with ``out``, writes it there instead (format by
        extension or ``out_format``, atomically) and returns ``None``.

        ``record=True`` records the export in the registry as the command
        does; ``self.last_export`` holds its id and report. A table passed
        in memory is recorded under ``features_name`` (default
        ``<arrow table>``) and a returned one as ``<returned table>``; their
        hashes are those of the Arrow IPC files the export read and wrote
        (see docs/python.md).

        A table in memory is read batch by batch and not copied: the
        returned table's input columns share its buffers. ``stream=True``
        returns a ``pyarrow.RecordBatchReader`` instead, which the export
        fills as it is read (pyarrow, polars and DuckDB consume it without
        copying); the export is recorded when the reader has read the last
        batch, and a reader dropped before that records nothing.
        ``last_export`` is then ``None``, and the export's warnings are
        issued when it ends."""
        native_table, answer = self._native.export(
            _table_argument(table),
            out=_optional_path(out),
            features_name=features_name,
            scorers=None if scorers is None else list(scorers),
            key_column=key_column,
            key_normalize=key_normalize,
            missing_policy=missing_policy,
            bad_policy=bad_policy,
            prefix=prefix,
            overwrite=overwrite,
            out_format=out_format,
            components=components,
            normalize=normalize,
            columns=None if columns is None else list(columns),
            frame_column=frame_column,
            frame_base=frame_base,
            frame_match=frame_match,
            max_frame_gap=max_frame_gap,
            pool=list(pool),
            as_of=None if as_of is None else str(as_of),
            csv_safe=csv_safe,
            record=record,
            note=note,
            tag=tag,
            stream=stream,
        )
        if answer is None:
            self.last_export = None
            return native_table
        answer = json.loads(answer)
        self.last_export = ExportResult(
            id=answer["id"], report=answer["report"], warnings=answer["warnings"]
        )
        for warning in answer["warnings"]:
            warnings.warn(warning, stacklevel=2)
        return native_table

    def scores(
        self,
        scorers: Sequence[str] | None = None,
        as_of: str | int | None = None,
        *,
        out: PathLike | None = None,
        record: bool = False,
        note: str | None = None,
        tag: str | None = None,
    ) -> pa.Table | None:
        """The scores alone, one row per (scorer, key), as
        ``export --scores-only`` writes them: a ``pyarrow.Table`` (or
        written to ``out``). Not recorded unless ``record=True`` (the
        command always records)."""
        native_table, export_id = self._native.scores(
            scorers=None if scorers is None else list(scorers),
            as_of=None if as_of is None else str(as_of),
            out=_optional_path(out),
            record=record,
            note=note,
            tag=tag,
        )
        if record:
            self.last_export = ExportResult(id=export_id, report={}, warnings=[])
        return native_table

    def scorers(self) -> list[dict[str, Any]]:
        """The scorers the registry knows (``scorers --json``)."""
        return json.loads(self._native.scorers())

    def files(self) -> list[dict[str, Any]]:
        """The ingested files (``files --json``)."""
        return json.loads(self._native.files())

    def provenance(
        self,
        scorer: str | None,
        key: str,
        as_of: str | int | None = None,
        *,
        key_normalize: str = "auto",
    ) -> list[dict[str, Any]]:
        """Where each score of ``key`` came from, live and superseded
        (``provenance --json``); ``scorer=None`` for every scorer."""
        return json.loads(
            self._native.provenance(
                key,
                scorer=scorer,
                key_normalize=key_normalize,
                as_of=None if as_of is None else str(as_of),
            )
        )

    def exports(self) -> list[dict[str, Any]]:
        """The recorded exports (``exports --json``)."""
        return json.loads(self._native.exports())

    def show_export(self, export: str | int) -> dict[str, Any]:
        """One recorded export (``exports show REF --json``)."""
        return json.loads(self._native.show_export(str(export)))

    def diff(self, a: str | int, b: str | int, *, rows: bool = False) -> dict[str, Any]:
        """How two points (exports, tags, sequences, times) differ
        (``exports diff A B --json``; ``rows=True`` lists the keys)."""
        return json.loads(self._native.diff(str(a), str(b), rows=rows))


def materialize(
    features: PathLike,
    scores: Sequence[PathLike] | PathLike,
    out: PathLike,
    *,
    audit_json: PathLike | None = None,
    key_column: str | None = None,
    score_key_field: str | None = None,
    score_field: str | None = None,
    key_normalize: str = "auto",
    missing_policy: str = "mark",
    prefix: str = "second_opinion",
    overwrite: bool = False,
    scale: str | None = None,
    registry: PathLike | None = None,
    tag: str | None = None,
    note: str | None = None,
    csv_safe: bool = False,
) -> dict[str, Any]:
    """The reference's ``materialize()``: join score files (``[LABEL=]PATH``)
    onto the feature table, write ``out`` (and ``audit_json``), and return
    the audit dict (``competitors``, ``feature_table``, ``input_rows``,
    ``key_column``, ``key_normalize``, ``missing_policy``, ``output``,
    ``output_rows``, ``run_provenance``), exactly as
    ``second-opinion materialize`` does with the same flags.

    Nothing is kept unless ``registry`` names one (the environment's
    ``SECOND_OPINION_REGISTRY`` is not consulted, as on the command line).
    """
    if isinstance(scores, (str, os.PathLike)):
        scores = [scores]
    answer = _native.materialize(
        os.fspath(features),
        [os.fspath(s) for s in scores],
        os.fspath(out),
        audit_json=_optional_path(audit_json),
        key_column=key_column,
        score_key_field=score_key_field,
        score_field=score_field,
        # `auto` given explicitly reads as not chosen, as the flag's default.
        key_normalize=None if key_normalize == "auto" else key_normalize,
        missing_policy=missing_policy,
        prefix=prefix,
        overwrite=overwrite,
        scale=scale,
        registry=_optional_path(registry),
        tag=tag,
        note=note,
        csv_safe=csv_safe,
        argv=list(sys.argv[1:]),
    )
    return json.loads(answer)


AuditInput = Union[PathLike, Any, "tuple[str, Any]"]


def audit(
    inputs: AuditInput | Iterable[AuditInput],
    *,
    registry: PathLike | None = None,
    target: str | None = None,
    top_k: int = 12,
    redundancy_threshold: float = 0.95,
    complement_threshold: float = 0.70,
    min_finite_ratio: float = 0.80,
    prefix: str = "second_opinion",
    key_column: str | None = None,
    fr_column: str | None = None,
    fr_ceiling: float | None = None,
    disagreement_threshold: float = 0.5,
    folds: int = 5,
    seed: int = 0,
    ridge_alpha: float = 1.0,
    compare_last: bool = False,
    skip_families: Sequence[str] = (),
    out_json: PathLike | None = None,
    out_md: PathLike | None = None,
    out_html: PathLike | None = None,
) -> dict[str, Any]:
    """The signal-family audit of one or more tables, as
    ``second-opinion audit`` makes it: returns the JSON report as a dict
    (what ``--out-json`` writes, ``run_provenance`` included), and writes
    the reports named by ``out_json``/``out_md``/``out_html``.

    ``inputs``: a table or path, or a list of them; a path may be
    ``LABEL=PATH`` and any item a ``(label, table_or_path)`` pair. A table
    without a label is labelled ``table1``, ``table2`` … by position.
    Families are read from ``registry`` (default ``default_registry()``),
    where the run is recorded; without a registry file the default
    families are used and nothing is recorded."""
    if isinstance(inputs, (str, os.PathLike, tuple)) or hasattr(inputs, "__arrow_c_stream__") or (
        (type(inputs).__module__ or "").startswith(("pandas", "duckdb"))
    ):
        inputs = [inputs]
    pairs = []
    for item in inputs:
        if isinstance(item, tuple):
            label, table = item
            pairs.append((label, _table_argument(table)))
        else:
            pairs.append((None, _table_argument(item)))
    answer = _native.audit(
        pairs,
        registry=os.fspath(registry) if registry is not None else default_registry(),
        target=target,
        top_k=top_k,
        redundancy_threshold=redundancy_threshold,
        complement_threshold=complement_threshold,
        min_finite_ratio=min_finite_ratio,
        prefix=prefix,
        key_column=key_column,
        fr_column=fr_column,
        fr_ceiling=fr_ceiling,
        disagreement_threshold=disagreement_threshold,
        folds=folds,
        seed=seed,
        ridge_alpha=ridge_alpha,
        compare_last=compare_last,
        skip_families=list(skip_families),
        out_json=_optional_path(out_json),
        out_md=_optional_path(out_md),
        out_html=_optional_path(out_html),
        argv=list(sys.argv),
    )
    return json.loads(answer)
