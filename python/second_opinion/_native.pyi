"""Type stubs of the Rust extension (second_opinion._native). Use the
documented API in second_opinion/__init__.py; these are its building blocks.
Answers that are JSON on the command line cross as JSON text."""

from typing import Any

DEFAULT_REGISTRY: str
TOOL_VERSION: str

class SecondOpinionError(Exception):
    """Every error of second-opinion; its message is the command line's."""

class DataError(SecondOpinionError):
    """The data does not allow it (the command line's exit code 1)."""

class UsageError(SecondOpinionError):
    """The call is wrong (the command line's exit code 2)."""

class NativeRegistry:
    """One registry file, opened on first use."""

    def __init__(self, path: str) -> None: ...
    @property
    def path(self) -> str: ...
    def close(self) -> None: ...
    def _holds_indexes(self) -> bool:
        """Whether score indexes kept from an earlier export are held."""
        ...
    def ingest(
        self,
        paths: list[str],
        *,
        scorer: str | None = None,
        scorer_version: str | None = None,
        format: str | None = None,
        score_key_field: str | None = None,
        score_field: str | None = None,
        key: str | None = None,
        metric: str | None = None,
        key_normalize: str = "auto",
        key_strip_prefix: str | None = None,
        scale: str | None = None,
        higher_is_better: bool | None = None,
        force_scale: bool = False,
        frame_base: int | None = None,
        replace: bool = False,
        ignore: bool = False,
        strict: bool = False,
    ) -> str: ...
    def export(
        self,
        features: Any,
        *,
        out: str | None = None,
        features_name: str | None = None,
        scorers: list[str] | None = None,
        key_column: str | None = None,
        key_normalize: str | None = None,
        missing_policy: str = "mark",
        bad_policy: str = "mark",
        prefix: str = "second_opinion",
        overwrite: bool = False,
        out_format: str | None = None,
        components: bool = True,
        normalize: bool = False,
        columns: list[str] | None = None,
        frame_column: str | None = None,
        frame_base: int | None = None,
        frame_match: str = "exact",
        max_frame_gap: int | None = None,
        pool: list[str] = ...,
        as_of: str | None = None,
        csv_safe: bool = False,
        record: bool = True,
        note: str | None = None,
        tag: str | None = None,
        stream: bool = False,
    ) -> tuple[Any | None, str | None]: ...
    def scores(
        self,
        *,
        scorers: list[str] | None = None,
        as_of: str | None = None,
        out: str | None = None,
        record: bool = False,
        note: str | None = None,
        tag: str | None = None,
    ) -> tuple[Any | None, int | None]: ...
    def scorers(self) -> str: ...
    def files(self) -> str: ...
    def provenance(
        self,
        key: str,
        *,
        scorer: str | None = None,
        key_normalize: str = "auto",
        as_of: str | None = None,
    ) -> str: ...
    def exports(self) -> str: ...
    def show_export(self, reference: str) -> str: ...
    def diff(self, a: str, b: str, *, rows: bool = False) -> str: ...

def materialize(
    features: str,
    scores: list[str],
    out: str,
    *,
    audit_json: str | None = None,
    key_column: str | None = None,
    score_key_field: str | None = None,
    score_field: str | None = None,
    key_normalize: str | None = None,
    missing_policy: str = "mark",
    prefix: str = "second_opinion",
    overwrite: bool = False,
    scale: str | None = None,
    registry: str | None = None,
    tag: str | None = None,
    note: str | None = None,
    csv_safe: bool = False,
    argv: list[str] = ...,
) -> str: ...
def audit(
    inputs: list[tuple[str | None, Any]],
    *,
    registry: str,
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
    skip_families: list[str] = ...,
    out_json: str | None = None,
    out_md: str | None = None,
    out_html: str | None = None,
    argv: list[str] = ...,
) -> str: ...
