"""The shared full-refresh load of ``connectors.base``: each key once, in batches, then cleanup."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from connectors.base import FullRefreshLoad, Row, SyncContext, delete_orphan_identities
from edtech_map.store import IDENTITIES, USERS, ShrinkGuardError, Store, TableSpec, Transaction

PEOPLE = TableSpec("people", {"source": "VARCHAR", "k": "VARCHAR"}, primary_key=("source", "k"))
GROUPS = TableSpec("groups", {"source": "VARCHAR", "g": "VARCHAR"}, primary_key=("source", "g"))
TABLES = {"people": PEOPLE, "groups": GROUPS}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store.duckdb") as opened:
        yield opened


def people(*keys: str) -> list[Row]:
    return [{"source": "sis", "k": key} for key in keys]


def keys_in(store: Store, table: str) -> set[str]:
    column = "k" if table == "people" else "g"
    store.ensure_table(TABLES[table])
    return {row[column] for row in store.query_arrow(f"SELECT {column} FROM {table}").to_pylist()}


def load_people(
    store: Store, keys: list[str], *, before: int = 0, force: bool = False
) -> SyncContext:
    """One full-refresh run that writes ``keys`` as the ``people`` stream (which is guarded)."""
    ctx = SyncContext(store=store, source="sis", force=force)
    load = FullRefreshLoad(ctx, TABLES, batch_size=2, guarded={"people"})
    ctx.report.stream("people").read = ctx.report.stream("people").loaded = len(keys)
    with store.transaction() as tx:
        load.mark("people")
        load.flush(tx, "people", people(*keys))
        load.finish(tx, before={"people": before})
    return ctx


def test_flush_writes_in_batches_and_keeps_a_repeated_key_once(store: Store) -> None:
    ctx = SyncContext(store=store, source="sis")
    load = FullRefreshLoad(ctx, TABLES, batch_size=2)
    ctx.report.stream("people").loaded = 8
    written: list[int] = []

    class Spy:
        def __init__(self, tx: Transaction) -> None:
            self.tx = tx

        def upsert(self, spec: TableSpec, rows: pa.Table, *, run_id: str) -> int:
            written.append(rows.num_rows)
            return self.tx.upsert(spec, rows, run_id=run_id)

    with store.transaction() as tx:
        spy: Any = Spy(tx)
        first = people("a", "b", "a", "c", "d", "e")
        load.flush(spy, "people", first)
        load.flush(spy, "people", people("b", "f"))  # "b" came on an earlier page too

    assert first == []  # the caller's buffer is emptied
    assert written == [2, 2, 1, 1]
    assert keys_in(store, "people") == {"a", "b", "c", "d", "e", "f"}
    report = ctx.report.streams["people"]
    assert (report.loaded, report.skipped) == (6, 2)
    assert report.skips[0] == "people: a record came twice (a page shifted mid-pull); kept once"


def test_flush_of_a_stream_not_written_only_empties_the_buffer(store: Store) -> None:
    load = FullRefreshLoad(SyncContext(store=store, source="sis"), TABLES, batch_size=2)
    rows = people("a")
    with store.transaction() as tx:
        load.flush(tx, "people", rows, write=False)
    assert rows == [] and keys_in(store, "people") == set()


def test_finish_deletes_unseen_rows_and_records_each_written_stream(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    load_people(store, ["a", "b", "c", "d"])
    caplog.set_level(logging.INFO, logger="connectors.base")

    ctx = load_people(store, ["a", "b", "c"], before=4)

    assert keys_in(store, "people") == {"a", "b", "c"}
    assert ctx.report.streams["people"].deleted == 1
    assert "groups" not in ctx.report.streams  # not written, so not cleaned up or recorded
    state = store.sync_state("sis")
    assert [(s["stream"], s["run_id"], s["rows_loaded"], s["complete"]) for s in state] == [
        ("people", ctx.run_id, 3, True)
    ]
    assert "people: read 3, loaded 3, skipped 0, rejected 0, deleted 1" in caplog.messages


def test_finish_refuses_a_big_shrink_of_a_guarded_stream_unless_forced(store: Store) -> None:
    load_people(store, ["a", "b", "c", "d"])
    first = store.sync_state("sis")

    with pytest.raises(ShrinkGuardError):
        load_people(store, ["a"], before=4)
    assert keys_in(store, "people") == {"a", "b", "c", "d"}  # rolled back
    assert store.sync_state("sis") == first

    load_people(store, ["a"], before=4, force=True)
    assert keys_in(store, "people") == {"a"}


def test_finish_leaves_an_unguarded_stream_free_to_shrink(store: Store) -> None:
    ctx = SyncContext(store=store, source="sis")
    with store.transaction() as tx:
        tx.upsert(GROUPS, pa.table({"source": ["sis"] * 4, "g": list("wxyz")}), run_id="old")
    load = FullRefreshLoad(ctx, TABLES, batch_size=2, guarded={"people"})
    with store.transaction() as tx:
        load.mark("groups")
        load.flush(tx, "groups", [{"source": "sis", "g": "w"}])
        load.finish(tx, before={})
    assert keys_in(store, "groups") == {"w"} and ctx.report.streams["groups"].deleted == 3


def test_orphan_identities_go_and_those_with_a_user_or_of_another_source_stay(
    store: Store,
) -> None:
    def identity(source: str, user_key: str) -> Row:
        return {"source": source, "user_key": user_key}

    with store.transaction() as tx:
        tx.upsert(
            USERS,
            pa.Table.from_pylist(
                [{"source": "sis", "user_key": "kept"}], schema=USERS.arrow_schema()
            ),
            run_id="r",
        )
        names = [identity("sis", "kept"), identity("sis", "gone"), identity("lms", "gone")]
        tx.upsert(
            IDENTITIES, pa.Table.from_pylist(names, schema=IDENTITIES.arrow_schema()), run_id="r"
        )
        delete_orphan_identities(tx, "sis")
    left = store.query_arrow("SELECT source, user_key FROM identities").to_pylist()
    assert {(row["source"], row["user_key"]) for row in left} == {("sis", "kept"), ("lms", "gone")}
