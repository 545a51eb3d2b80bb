"""Shared fixtures: the command-line binary every result is compared with,
and a workspace of small score files and feature tables."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]


def _binary() -> Path:
    """The `second-opinion` binary: $SECOND_OPINION_BIN, else the release
    or debug build under $CARGO_TARGET_DIR or the repository's target/."""
    given = os.environ.get("SECOND_OPINION_BIN")
    if given:
        return Path(given)
    targets = [Path(os.environ["CARGO_TARGET_DIR"])] if "CARGO_TARGET_DIR" in os.environ else []
    targets.append(REPO / "target")
    for target in targets:
        for profile in ("release", "debug"):
            candidate = target / profile / "second-opinion"
            if candidate.is_file():
                return candidate
    raise RuntimeError(
        "no second-opinion binary: build it (cargo build --release) or set SECOND_OPINION_BIN"
    )


class Cli:
    """Runs the command line in a folder, with the registry given."""

    def __init__(self, binary: Path, cwd: Path) -> None:
        self.binary = binary
        self.cwd = cwd

    def run(self, *args: str, registry: str | None = "cli.db", check: bool = True):
        command = [str(self.binary)]
        if registry is not None:
            command += ["--registry", registry]
        command += list(args)
        env = {k: v for k, v in os.environ.items() if k != "SECOND_OPINION_REGISTRY"}
        result = subprocess.run(
            command, cwd=self.cwd, capture_output=True, text=True, env=env
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{command} failed ({result.returncode}): {result.stderr}")
        return result

    def json(self, *args: str, registry: str = "cli.db"):
        return json.loads(self.run(*args, registry=registry).stdout)

    def error(self, *args: str, registry: str | None = "cli.db") -> tuple[int, str]:
        """The exit code and the closing `second-opinion: MESSAGE` line."""
        result = self.run(*args, registry=registry, check=False)
        assert result.returncode != 0, result.stdout
        lines = [l for l in result.stderr.splitlines() if l.startswith("second-opinion: ")]
        return result.returncode, lines[-1][len("second-opinion: "):]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding two score files and a parquet feature table, and
    the working directory of the test (paths are recorded as given)."""
    (tmp_path / "dover.jsonl").write_text(
        '{"video_id": "a.mp4", "score": 71.5, "runtime_ms": 12}\n'
        '{"video_id": "b.mp4", "score": 40.25, "runtime_ms": 9}\n'
        '{"video_id": "d.mp4", "score": 55, "status": "error"}\n'
    )
    (tmp_path / "musiq.jsonl").write_text(
        '{"video_id": "a.mp4", "score": 62.0}\n'
        '{"video_id": "c.mp4", "score": 33.5}\n'
    )
    features = pa.table(
        {
            "video_id": ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4"],
            "width": pa.array([1920, 1280, None, 640, 3840], pa.int32()),
            "adm2": [0.91, 0.72, 0.55, 0.33, 0.97],
            "note": ["x", None, "001", "y", "z"],
        },
        metadata={"origin": "test"},
    )
    pq.write_table(features, tmp_path / "features.parquet")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECOND_OPINION_REGISTRY", raising=False)
    return tmp_path


@pytest.fixture
def cli(workspace: Path) -> Cli:
    return Cli(_binary(), workspace)


@pytest.fixture
def features(workspace: Path) -> pa.Table:
    return pq.read_table(workspace / "features.parquet")


class Backend:
    """Where the registries of a test live: SQLite files in the workspace,
    or databases of their own on the PostgreSQL server of
    $SECOND_OPINION_TEST_POSTGRES (dropped when the test ends)."""

    #: The calls each backend's registry supports. PostgreSQL gains the
    #: rest as they are ported: add them here, and the tests that
    #: `require()` them run on it too.
    SUPPORTS = {
        "sqlite": {"ingest", "export", "scores", "scorers", "files", "provenance",
                   "exports", "diff"},
        "postgres": {"ingest", "export", "scores", "scorers", "files"},
    }

    def __init__(self, name: str, server: str | None = None) -> None:
        self.name = name
        self.server = server
        self.databases: list[str] = []

    def require(self, *calls: str) -> None:
        """Skip the test unless this backend supports every one of `calls`."""
        missing = [c for c in calls if c not in self.SUPPORTS[self.name]]
        if missing:
            pytest.skip(f"{self.name} registries do not support {', '.join(missing)} yet")

    def location(self, stem: str) -> str:
        """A fresh registry: `stem.db`, or a new database's URL."""
        if self.server is None:
            return f"{stem}.db"
        database = f"so_py_{stem}_{os.getpid()}_{len(self.databases)}"
        self._admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        self._admin(f"CREATE DATABASE {database}")
        self.databases.append(database)
        return _with_database(self.server, database)

    def drop(self) -> None:
        for database in self.databases:
            self._admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")

    def _admin(self, sql: str) -> None:
        subprocess.run(["psql", self.server, "-q", "-c", sql], check=True,
                       capture_output=True, text=True)


def _with_database(url: str, database: str) -> str:
    """`url` with its database replaced by `database` (as tests/backends.rs)."""
    head, _, query = url.partition("?")
    scheme_end = head.index("://") + 3
    slash = head.find("/", scheme_end)
    base = head if slash < 0 else head[:slash]
    return f"{base}/{database}" + (f"?{query}" if query else "")


@pytest.fixture(params=sorted(Backend.SUPPORTS))
def backend(request: pytest.FixtureRequest, workspace: Path):
    """Each registry backend in turn; PostgreSQL only where
    $SECOND_OPINION_TEST_POSTGRES names a server (python/ci.sh under
    .ci/run sets it), skipped elsewhere."""
    if request.param == "sqlite":
        yield Backend("sqlite")
        return
    server = os.environ.get("SECOND_OPINION_TEST_POSTGRES")
    if not server and os.environ.get("SECOND_OPINION_REQUIRE_POSTGRES") == "1":
        pytest.fail("SECOND_OPINION_REQUIRE_POSTGRES=1 but SECOND_OPINION_TEST_POSTGRES is not set")
    if not server:
        pytest.skip("SECOND_OPINION_TEST_POSTGRES is not set: PostgreSQL registries skipped")
    chosen = Backend("postgres", server)
    yield chosen
    chosen.drop()
