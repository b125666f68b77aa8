"""The DuckDB store: bulk upserts, transactions, stale-row cleanup, shrink guard, keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edtech_map.store import (
    DEFAULT_MAX_SHRINK,
    ROSTER_TABLES,
    SYNC_STATE,
    USERS,
    ShrinkGuardError,
    Store,
    StoreError,
    TableSpec,
    default_store_path,
    shrink_guard,
)

THINGS = TableSpec(
    "things",
    {"source": "VARCHAR", "thing_key": "VARCHAR", "size": "BIGINT", "tags": "VARCHAR[]"},
    primary_key=("source", "thing_key"),
)


def things(source: str, keys: list[str], size: int = 1) -> pa.Table:
    return pa.table(
        {
            "source": [source] * len(keys),
            "thing_key": keys,
            "size": [size] * len(keys),
            "tags": [["t", k] for k in keys],
        }
    )


def dump(store: Store) -> dict[str, set[tuple[object, ...]]]:
    """Every row of every table, as sets of tuples (lists made hashable)."""
    tables = [
        row[0]
        for row in store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    ]
    return {
        table: {
            tuple(tuple(v) if isinstance(v, list) else v for v in row.values())
            for row in store.query_arrow(f'SELECT * FROM "{table}"').to_pylist()
        }
        for table in tables
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "ws" / "store.duckdb") as opened:
        opened.ensure_table(THINGS)
        yield opened


def test_open_creates_the_file_the_secret_and_the_roster_tables(tmp_path: Path) -> None:
    path = tmp_path / "ws" / "store.duckdb"
    with Store.open(path) as store:
        assert path.exists()
        assert (path.parent / "secret.key").exists()
        assert {spec.name for spec in ROSTER_TABLES} <= set(store.tables())
        key = store.keys.user("stu-1")
    with Store.open(path, create=False) as again:
        assert again.keys.user("stu-1") == key  # same secret, same keys


def test_open_without_create_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no store at .*nothing\.duckdb; import a roster"):
        Store.open(tmp_path / "nothing.duckdb", create=False)
    assert not (tmp_path / "nothing.duckdb").exists()


def test_open_refuses_a_file_that_is_not_duckdb(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    path.write_text("sourcedId,status\n")
    with pytest.raises(StoreError, match="DuckDB cannot open the store"):
        Store.open(path)


def test_memory_limit_and_temp_directory_reach_duckdb(tmp_path: Path) -> None:
    with Store.open(
        tmp_path / "s.duckdb", memory_limit="256MB", temp_directory=tmp_path / "spill"
    ) as store:
        limit = store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        temp = store.con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    assert limit.replace(" ", "").upper().startswith(("256", "244"))
    assert temp.endswith("spill")


def test_default_store_path_sits_beside_the_inventory() -> None:
    assert default_store_path(Path("/d/ecosystem.yaml")) == Path("/d/.edtech-map/store.duckdb")


def test_upsert_is_idempotent_and_last_write_wins(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.upsert(THINGS, things("a", ["1", "2"], size=1), run_id="r1") == 2
    first = dump(store)["things"]
    with store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["1", "2"], size=1), run_id="r1")
    assert {row[:5] for row in dump(store)["things"]} == {row[:5] for row in first}
    with store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["2"], size=9), run_id="r2")
    rows = store.query_arrow("SELECT thing_key, size, run_id FROM things ORDER BY 1").to_pylist()
    assert rows == [
        {"thing_key": "1", "size": 1, "run_id": "r1"},
        {"thing_key": "2", "size": 9, "run_id": "r2"},
    ]


def test_upsert_takes_a_record_batch_reader_batch_by_batch(store: Store) -> None:
    batches = [things("a", [str(i) for i in range(n, n + 3)]).to_batches()[0] for n in (0, 3, 6)]
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, iter(batches))
    with store.transaction() as tx:
        assert tx.upsert(THINGS, reader, run_id="r1") == 9
    assert store.query_arrow("SELECT count(*) AS n FROM things").to_pylist() == [{"n": 9}]


def test_upsert_names_missing_and_unknown_columns(store: Store) -> None:
    bad = pa.table({"source": ["a"], "thing_key": ["1"], "colour": ["red"]})
    missing = r"missing columns \['size', 'tags'\].*\['colour'\]"
    with pytest.raises(StoreError, match=missing), store.transaction() as tx:
        tx.upsert(THINGS, bad, run_id="r1")


def test_upsert_refuses_a_key_repeated_within_a_batch(store: Store) -> None:
    with pytest.raises(StoreError, match="1 rows repeat a primary key"), store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["1", "1"]), run_id="r1")
    assert dump(store)["things"] == set()


def test_a_failed_transaction_leaves_the_store_exactly_as_it_was(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["1", "2", "3"]), run_id="r1")
        tx.record_sync(
            "a", "things", run_id="r1", cursor="c1", rows_read=3, rows_loaded=3,
            rows_skipped=0, started=datetime.now(UTC), complete=True,
        )  # fmt: skip
    before = dump(store)
    with pytest.raises(RuntimeError, match="half way"), store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["1", "4"], size=7), run_id="r2")
        tx.delete_stale(THINGS, source="a", keep_run_id="r2")
        tx.record_sync(
            "a", "things", run_id="r2", cursor="c2", rows_read=2, rows_loaded=2,
            rows_skipped=0, started=datetime.now(UTC), complete=True,
        )  # fmt: skip
        raise RuntimeError("half way")
    assert dump(store) == before
    assert store.sync_state("a")[0]["cursor"] == "c1"


def test_tables_created_inside_a_rolled_back_transaction_are_created_again(store: Store) -> None:
    late = TableSpec("late", {"source": "VARCHAR"}, ("source",))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.upsert(late, pa.table({"source": ["a"]}), run_id="r1")
        raise RuntimeError
    with store.transaction() as tx:
        assert tx.upsert(late, pa.table({"source": ["a"]}), run_id="r2") == 1


def test_transactions_do_not_nest(store: Store) -> None:
    outer = store.transaction()
    with outer, pytest.raises(StoreError, match="already open"), store.transaction():
        pass


def test_delete_stale_never_touches_another_source(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["1", "2"]), run_id="r1")
        tx.upsert(THINGS, things("b", ["1", "2"]), run_id="r1")
    with store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["2"]), run_id="r2")
        assert tx.delete_stale(THINGS, source="a", keep_run_id="r2") == 1
    rows = store.query_arrow("SELECT source, thing_key FROM things").to_pylist()
    assert {(r["source"], r["thing_key"]) for r in rows} == {("a", "2"), ("b", "1"), ("b", "2")}


def test_delete_keys_removes_only_those_keys(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["1", "2"]), run_id="r1")
        tx.upsert(THINGS, things("b", ["1"]), run_id="r1")
        gone = tx.delete_keys(THINGS, pa.table({"source": ["a", "a"], "thing_key": ["1", "x"]}))
    assert gone == 1
    rows = store.query_arrow("SELECT source, thing_key FROM things").to_pylist()
    assert {(r["source"], r["thing_key"]) for r in rows} == {("a", "2"), ("b", "1")}


@pytest.mark.parametrize(
    ("before", "deleted", "refused"),
    [(10, 4, False), (10, 5, True), (10, 10, True), (0, 0, False), (1, 0, False), (3, 1, False)],
)
def test_shrink_guard_refuses_half_or_more(before: int, deleted: int, refused: bool) -> None:
    if refused:
        with pytest.raises(ShrinkGuardError, match=rf"{before} -> {before - deleted}.*--force"):
            shrink_guard("users", source="sis", before=before, deleted=deleted)
    else:
        shrink_guard("users", source="sis", before=before, deleted=deleted)
    shrink_guard("users", source="sis", before=before, deleted=deleted, force=True)
    assert DEFAULT_MAX_SHRINK == 0.5


def test_counts_and_sync_state(store: Store) -> None:
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["1", "2"]), run_id="r1")
        tx.upsert(THINGS, things("b", ["1"]), run_id="r1")
        tx.record_sync(
            "a", "things", run_id="r1", cursor="2026-01-01", rows_read=3, rows_loaded=2,
            rows_skipped=1, started=started, complete=True,
        )  # fmt: skip
    assert store.counts() == [
        {"source": "a", "table": "things", "rows": 2},
        {"source": "b", "table": "things", "rows": 1},
    ]
    (state,) = store.sync_state("a")
    assert state["cursor"] == "2026-01-01"
    assert (state["rows_read"], state["rows_loaded"], state["rows_skipped"]) == (3, 2, 1)
    assert state["started"] == started and state["complete"] is True
    assert store.sync_state("b") == []


def test_query_df_hands_out_pandas(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert(THINGS, things("a", ["1", "2"], size=3), run_id="r1")
    frame = store.query_df("SELECT sum(size) AS total FROM things WHERE source = ?", ["a"])
    assert frame["total"].tolist() == [6]


def test_table_spec_refuses_bad_declarations() -> None:
    with pytest.raises(StoreError, match="'source' column"):
        TableSpec("t", {"k": "VARCHAR"}, ("k",))
    with pytest.raises(StoreError, match="primary key columns"):
        TableSpec("t", {"source": "VARCHAR"}, ("k",))
    with pytest.raises(StoreError, match="not supported"):
        TableSpec("t", {"source": "VARCHAR", "x": "HUGEINT"}, ("source",))
    with pytest.raises(StoreError, match="added by the store"):
        TableSpec("t", {"source": "VARCHAR", "run_id": "VARCHAR"}, ("source",))
    with pytest.raises(StoreError, match="lower_snake_case"):
        TableSpec("t; DROP TABLE users", {"source": "VARCHAR"}, ("source",))


def test_users_table_keeps_no_name_or_email_columns() -> None:
    assert not {"given_name", "family_name", "email", "username", "password"} & set(USERS.columns)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from("ab"), st.text("xyz", min_size=1, max_size=2), st.integers(0, 9)
            ),
            max_size=6,
            unique_by=lambda t: (t[0], t[1]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_a_sequence_of_upserts_equals_last_write_wins(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[tuple[str, str, int]]]
) -> None:
    expected: dict[tuple[str, str], int] = {}
    with Store.open(tmp_path_factory.mktemp("p") / "s.duckdb") as store:
        for number, batch in enumerate(batches):
            table = pa.table(
                {
                    "source": [s for s, _, _ in batch],
                    "thing_key": [k for _, k, _ in batch],
                    "size": [n for _, _, n in batch],
                    "tags": [None] * len(batch),
                }
            )
            with store.transaction() as tx:
                tx.upsert(THINGS, table, run_id=f"r{number}")
            expected.update({(s, k): n for s, k, n in batch})
        rows = store.query_arrow("SELECT source, thing_key, size FROM things").to_pylist()
    assert {(r["source"], r["thing_key"]): r["size"] for r in rows} == expected


def test_the_docs_describe_every_store_column() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "store.md").read_text()
    for spec in (*ROSTER_TABLES, SYNC_STATE):
        assert f"### {spec.name}" in page, spec.name
        for column in spec.columns:
            assert f"`{column}`" in page, f"{spec.name}.{column}"


def test_unindexed_table_upsert_replaces_and_old_keyed_tables_still_work(tmp_path: Path) -> None:
    """A spec with ``indexed=False`` has no PRIMARY KEY; upsert still replaces by key, and a
    table an older version made with the key keeps working through ON CONFLICT."""
    from edtech_map.store import TableSpec

    loose = TableSpec(
        "loose", {"source": "VARCHAR", "k": "VARCHAR", "n": "BIGINT"}, ("k",), indexed=False
    )
    keyed = TableSpec("keyed", {"source": "VARCHAR", "k": "VARCHAR", "n": "BIGINT"}, ("k",))
    with Store.open(tmp_path / "s.duckdb") as store:
        store.con.execute(keyed.ddl())  # as an older store made it
        # the current spec for the same table says unindexed
        keyed_now = TableSpec("keyed", dict(keyed.columns), ("k",), indexed=False)
        for spec in (loose, keyed_now):
            with store.transaction() as tx:
                tx.upsert(
                    spec,
                    pa.table({"source": ["s", "s"], "k": ["a", "b"], "n": [1, 2]}),
                    run_id="r1",
                )
                tx.upsert(spec, pa.table({"source": ["s"], "k": ["a"], "n": [3]}), run_id="r2")
            rows = store.query_arrow(f"SELECT k, n, run_id FROM {spec.name} ORDER BY k").to_pylist()
            assert rows == [
                {"k": "a", "n": 3, "run_id": "r2"},
                {"k": "b", "n": 2, "run_id": "r1"},
            ], spec.name
        constraints = store.con.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
            "AND table_name IN ('loose', 'keyed')"
        ).fetchall()
        assert constraints == [("keyed",)]
