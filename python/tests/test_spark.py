"""The Spark recipe of docs/python.md, run in Spark local mode: the
registry's scores (`Registry.scores()`) broadcast-joined onto a Spark
DataFrame give the columns and values of the command line's `export`.
Skipped only where pyspark or a Java runtime is not installed."""

from __future__ import annotations

import shutil

import pyarrow.feather as feather
import pytest

import second_opinion as so

pyspark = pytest.importorskip("pyspark")
# PySpark 4.3 warns that it does not fully support pandas 3; the recipe
# hands it plain columns (strings, floats, ints), which it reads correctly.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
if shutil.which("java") is None:
    pytest.skip("no Java runtime for Spark", allow_module_level=True)

from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402


def with_second_opinion(
    features: DataFrame, registry: so.Registry, key_column: str, prefix: str = "second_opinion"
) -> DataFrame:
    """The recipe: each scorer's five columns joined onto `features` by a
    broadcast join on the key (as the registry stores it: normalise the
    table's key the same way first when it is a path), with the export's
    statuses for rows without a score (`missing`, frames 0, source "")."""
    scores = registry.scores().select(
        ["key", "scorer", "score", "status", "runtime_ms", "frames", "source_path"]
    )
    spark = features.sparkSession
    scores_df = spark.createDataFrame(scores.to_pandas())
    slugs = {s["name"]: s["slug"] for s in registry.scorers()}
    enriched = features
    for name in sorted(slugs, key=lambda n: slugs[n]):
        p = f"{prefix}_{slugs[name]}"
        one = scores_df.where(F.col("scorer") == name).select(
            F.col("key").alias(f"{p}__key"),
            F.col("score").alias(f"{p}_score"),
            F.col("status").alias(f"{p}_status"),
            F.col("runtime_ms").alias(f"{p}_runtime_ms"),
            F.col("frames").alias(f"{p}_frames"),
            F.col("source_path").alias(f"{p}_source"),
        )
        enriched = (
            enriched.join(F.broadcast(one), F.col(key_column) == F.col(f"{p}__key"), "left")
            .drop(f"{p}__key")
            .withColumn(f"{p}_status", F.coalesce(F.col(f"{p}_status"), F.lit("missing")))
            .withColumn(f"{p}_frames", F.coalesce(F.col(f"{p}_frames"), F.lit(0).cast("long")))
            .withColumn(f"{p}_source", F.coalesce(F.col(f"{p}_source"), F.lit("")))
        )
    return enriched


@pytest.fixture(scope="module")
def spark():
    session = (
        SparkSession.builder.master("local[1]")
        .appName("second-opinion-recipe")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_the_spark_recipe_gives_the_export_columns_and_values(cli, features, spark):
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl")
    cli.run("export", "--features", "features.parquet", "--out", "cli.arrow")
    expected = feather.read_table(cli.cwd / "cli.arrow")

    # Spark does not keep row order through a join: number the rows first.
    frame = spark.createDataFrame(features.to_pandas()).withColumn(
        "__row", F.monotonically_increasing_id()
    )
    with so.Registry("cli.db") as registry:
        enriched = with_second_opinion(frame, registry, "video_id")
    rows = [r.asDict() for r in enriched.orderBy("__row").drop("__row").collect()]

    assert list(rows[0]) == expected.column_names
    added = [n for n in expected.column_names if n.startswith("second_opinion_")]
    assert [{n: r[n] for n in added} for r in rows] == expected.select(added).to_pylist()
    assert [r["video_id"] for r in rows] == expected.column("video_id").to_pylist()
