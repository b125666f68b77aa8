"""The DuckDB workspace store: rosters, usage and connector sync state in one file.

A store is one DuckDB database file (by default ``.edtech-map/store.duckdb`` beside
``ecosystem.yaml``) with the workspace secret ``secret.key`` in the same folder. People are
kept as pseudonymous keys made with that secret (:class:`edtech_map.privacy.KeyMaker`), never
as names, e-mails, usernames or raw source ids, unless a caller opts in to the separate
:data:`IDENTITIES` table.

Every table is declared by a :class:`TableSpec`; every row carries ``source`` (which
connector or source name wrote it), ``run_id`` (the pull that last saw it) and ``last_seen``.
Writes happen inside :meth:`Store.transaction`: bulk upserts from Arrow, removal of rows a
full pull no longer sees, and the sync state commit together or not at all.

Examples
--------
>>> import tempfile, pyarrow as pa
>>> folder = Path(tempfile.mkdtemp())
>>> things = TableSpec("things", {"source": "VARCHAR", "thing_key": "VARCHAR",
...                               "size": "INTEGER"}, primary_key=("source", "thing_key"))
>>> with Store.open(folder / "store.duckdb") as store:
...     store.ensure_table(things)
...     with store.transaction() as tx:
...         tx.upsert(things, pa.table({"source": ["demo"] * 2, "thing_key": ["a", "b"],
...                                     "size": [1, 2]}), run_id="r1")
...     store.query_arrow("SELECT thing_key, size FROM things ORDER BY 1").to_pylist()
2
[{'thing_key': 'a', 'size': 1}, {'thing_key': 'b', 'size': 2}]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; see docs/store.md

from edtech_map.errors import EdtechMapError
from edtech_map.privacy import KeyMaker, load_or_create_secret
from edtech_map.workspace_lock import WorkspaceLock

if TYPE_CHECKING:
    import pandas

__all__ = [
    "ACADEMIC_SESSIONS",
    "CLASSES",
    "COURSES",
    "DEFAULT_MAX_SHRINK",
    "ENROLLMENTS",
    "IDENTITIES",
    "ORGS",
    "ROSTER_TABLES",
    "SYNC_STATE",
    "USERS",
    "USER_PROFILES",
    "USER_ROLES",
    "ShrinkGuardError",
    "Store",
    "StoreError",
    "TableSpec",
    "Transaction",
    "default_store_path",
    "shrink_guard",
]

log = logging.getLogger(__name__)

STORE_DIR = ".edtech-map"
STORE_FILE = "store.duckdb"
DEFAULT_MAX_SHRINK = 0.5
BOOKKEEPING = {"run_id": "VARCHAR", "last_seen": "TIMESTAMPTZ"}
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BOOLEAN": pa.bool_(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}


class StoreError(EdtechMapError):
    """The store cannot do what was asked; the message says why and what to do."""


class ShrinkGuardError(StoreError):
    """A full pull would delete too much of a source's roster at once (see :func:`shrink_guard`)."""

    def __init__(self, table: str, source: str, before: int, deleted: int, limit: float) -> None:
        self.table, self.source, self.before, self.deleted = table, source, before, deleted
        after = before - deleted
        super().__init__(
            f"{table} of source {source!r}: this pull would delete {deleted} of {before} rows "
            f"({before} -> {after}), {limit:.0%} or more of what the store holds. A partial "
            f"export looks like this; nothing was changed. Check the export, or use --force "
            f"(force=True) if this is intended."
        )


@dataclass(frozen=True)
class TableSpec:
    """A store table: its name, columns (name -> DuckDB type, in order) and primary key.

    ``columns`` must include ``source``; the store adds ``run_id`` and ``last_seen`` itself.
    Other modules declare their own tables with a spec and :meth:`Store.ensure_table`, without
    editing this module.

    Examples
    --------
    >>> spec = TableSpec("t", {"source": "VARCHAR", "k": "VARCHAR", "tags": "VARCHAR[]"},
    ...                  primary_key=("source", "k"))
    >>> spec.arrow_schema().field("tags").type
    ListType(list<item: string>)
    >>> TableSpec("t", {"k": "VARCHAR"}, primary_key=("k",))
    Traceback (most recent call last):
    ...
    edtech_map.store.StoreError: table t: every table needs a 'source' column
    """

    name: str
    columns: Mapping[str, str]
    primary_key: tuple[str, ...]
    description: str = field(default="", compare=False)
    indexed: bool = True
    """Whether the table is created with a ``PRIMARY KEY`` constraint. DuckDB keeps that
    index in memory and checks every insert against it, which for a table of tens of millions
    of rows (``usage_events``) costs more than the insert; an unindexed table's key is kept
    unique by its writers (an anti-join before insert; :meth:`Transaction.upsert` deletes
    the keys it rewrites)."""

    def __post_init__(self) -> None:
        for name in (self.name, *self.columns):
            if not _IDENTIFIER.match(name):
                raise StoreError(f"table {self.name}: {name!r} is not a lower_snake_case name")
        if "source" not in self.columns:
            raise StoreError(f"table {self.name}: every table needs a 'source' column")
        if clash := set(self.columns) & set(BOOKKEEPING):
            raise StoreError(f"table {self.name}: {sorted(clash)} are added by the store")
        if missing := [key for key in self.primary_key if key not in self.columns]:
            raise StoreError(f"table {self.name}: primary key columns {missing} are not columns")
        for column, kind in self.columns.items():
            _arrow_type(kind, where=f"table {self.name} column {column}")

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema rows for :meth:`Transaction.upsert` should have (data columns).

        Examples
        --------
        >>> USERS.arrow_schema().field("enabled").type
        DataType(bool)
        """
        return pa.schema(
            [(name, _arrow_type(kind, where=self.name)) for name, kind in self.columns.items()]
        )

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for this spec, bookkeeping columns included.

        Examples
        --------
        >>> print(SYNC_STATE.ddl().splitlines()[0])
        CREATE TABLE IF NOT EXISTS "sync_state" (
        """
        lines = [f"    {_q(name)} {kind}" for name, kind in {**self.columns, **BOOKKEEPING}.items()]
        if self.indexed:
            lines.append(f"    PRIMARY KEY ({', '.join(_q(key) for key in self.primary_key)})")
        return f"CREATE TABLE IF NOT EXISTS {_q(self.name)} (\n" + ",\n".join(lines) + "\n)"


def _arrow_type(kind: str, *, where: str) -> pa.DataType:
    base = kind.upper().strip()
    if base.endswith("[]"):
        return pa.list_(_arrow_type(base[:-2], where=where))
    try:
        return _ARROW_TYPES[base]
    except KeyError:
        known = ", ".join(sorted(_ARROW_TYPES))
        raise StoreError(f"{where}: type {kind!r} is not supported; use one of {known}") from None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _roster_table(
    name: str, key: str, columns: Mapping[str, str], description: str, *, indexed: bool = True
) -> TableSpec:
    return TableSpec(
        name,
        {"source": "VARCHAR", key: "VARCHAR", **columns},
        primary_key=("source", key),
        description=description,
        indexed=indexed,
    )


_ENTITY = {"status": "VARCHAR", "date_last_modified": "TIMESTAMPTZ"}

ORGS = _roster_table(
    "orgs",
    "org_key",
    {
        **_ENTITY,
        "name": "VARCHAR",
        "type": "VARCHAR",
        "identifier": "VARCHAR",
        "parent_org_key": "VARCHAR",
        "extensions": "JSON",
    },
    "Districts, schools and departments. Keys are the source's own ids (orgs are not people).",
)
ACADEMIC_SESSIONS = _roster_table(
    "academic_sessions",
    "session_key",
    {
        **_ENTITY,
        "title": "VARCHAR",
        "type": "VARCHAR",
        "start_date": "DATE",
        "end_date": "DATE",
        "parent_session_key": "VARCHAR",
        "school_year": "VARCHAR",
        "extensions": "JSON",
    },
    "School years, terms, semesters and grading periods.",
)
COURSES = _roster_table(
    "courses",
    "course_key",
    {
        **_ENTITY,
        "title": "VARCHAR",
        "course_code": "VARCHAR",
        "school_year_key": "VARCHAR",
        "org_key": "VARCHAR",
        "grades": "VARCHAR[]",
        "subjects": "VARCHAR[]",
        "subject_codes": "VARCHAR[]",
        "extensions": "JSON",
    },
    "Courses (the catalogue); classes are their sections.",
)
CLASSES = _roster_table(
    "classes",
    "class_key",
    {
        **_ENTITY,
        "title": "VARCHAR",
        "class_code": "VARCHAR",
        "class_type": "VARCHAR",
        "location": "VARCHAR",
        "course_key": "VARCHAR",
        "school_key": "VARCHAR",
        "term_keys": "VARCHAR[]",
        "grades": "VARCHAR[]",
        "subjects": "VARCHAR[]",
        "subject_codes": "VARCHAR[]",
        "periods": "VARCHAR[]",
        "extensions": "JSON",
    },
    "Classes (sections) that students enrol in.",
)
USERS = _roster_table(
    "users",
    "user_key",
    {
        **_ENTITY,
        "enabled": "BOOLEAN",
        "primary_role": "VARCHAR",
        "roles": "VARCHAR[]",
        "primary_org_key": "VARCHAR",
        "org_keys": "VARCHAR[]",
        "grades": "VARCHAR[]",
        "extensions": "JSON",
    },
    "People, by pseudonymous key only: role, school and grade, never names or e-mails.",
)
USER_ROLES = _roster_table(
    "user_roles",
    "role_key",
    {
        **_ENTITY,
        "user_key": "VARCHAR",
        "role_type": "VARCHAR",
        "role": "VARCHAR",
        "org_key": "VARCHAR",
        "begin_date": "DATE",
        "end_date": "DATE",
        "extensions": "JSON",
    },
    "OneRoster 1.2 roles.csv: which role a user has at which org.",
)
USER_PROFILES = _roster_table(
    "user_profiles",
    "profile_key",
    {
        **_ENTITY,
        "user_key": "VARCHAR",
        "profile_type": "VARCHAR",
        "vendor_id": "VARCHAR",
        "application_id": "VARCHAR",
        "credential_type": "VARCHAR",
        "extensions": "JSON",
    },
    "OneRoster 1.2 userProfiles.csv: which vendor applications a user has an account in "
    "(usernames and passwords are never stored).",
)
ENROLLMENTS = _roster_table(
    "enrollments",
    "enrollment_key",
    {
        **_ENTITY,
        "user_key": "VARCHAR",
        "class_key": "VARCHAR",
        "school_key": "VARCHAR",
        "role": "VARCHAR",
        "is_primary": "BOOLEAN",
        "begin_date": "DATE",
        "end_date": "DATE",
        "extensions": "JSON",
    },
    "Who is in which class, in which role. Users are keys; classes are source ids.",
    # Ten million rows in a big district: the key index cost more than the rows to insert
    # and to commit; writers keep the key unique (upserts delete the keys they rewrite).
    indexed=False,
)
IDENTITIES = TableSpec(
    "identities",
    {
        "source": "VARCHAR",
        "user_key": "VARCHAR",
        "given_name": "VARCHAR",
        "family_name": "VARCHAR",
        "middle_name": "VARCHAR",
        "preferred_given_name": "VARCHAR",
        "preferred_family_name": "VARCHAR",
        "email": "VARCHAR",
        "username": "VARCHAR",
        "identifier": "VARCHAR",
        "source_id": "VARCHAR",
    },
    primary_key=("source", "user_key"),
    description="Opt-in only (--keep-names / keep_identities=True): names and e-mails by key.",
)
SYNC_STATE = TableSpec(
    "sync_state",
    {
        "source": "VARCHAR",
        "stream": "VARCHAR",
        "cursor": "VARCHAR",
        "rows_read": "BIGINT",
        "rows_loaded": "BIGINT",
        "rows_skipped": "BIGINT",
        "started": "TIMESTAMPTZ",
        "finished": "TIMESTAMPTZ",
        "complete": "BOOLEAN",
    },
    primary_key=("source", "stream"),
    description="The last pull of each stream of each source: counts, cursor, when.",
)
ROSTER_TABLES: tuple[TableSpec, ...] = (
    ORGS,
    ACADEMIC_SESSIONS,
    COURSES,
    CLASSES,
    USERS,
    USER_ROLES,
    USER_PROFILES,
    ENROLLMENTS,
    IDENTITIES,
)


def default_store_path(inventory_path: str | Path) -> Path:
    """Where the store of an inventory lives: ``.edtech-map/store.duckdb`` beside it.

    Examples
    --------
    >>> default_store_path("district/ecosystem.yaml").as_posix()
    'district/.edtech-map/store.duckdb'
    """
    return Path(inventory_path).parent / STORE_DIR / STORE_FILE


def shrink_guard(
    table: str,
    *,
    source: str,
    before: int,
    deleted: int,
    max_shrink: float = DEFAULT_MAX_SHRINK,
    force: bool = False,
) -> None:
    """Refuse a full pull that deletes ``max_shrink`` or more of a source's existing rows.

    A half-empty export from a SIS looks like half the district left; without this guard a
    nightly pull would wipe those users and their enrollments. Call it inside the transaction,
    after the deletions, so that raising rolls them back.

    Raises
    ------
    ShrinkGuardError
        Naming the counts before and after, unless ``force`` is true.

    Examples
    --------
    >>> shrink_guard("users", source="sis", before=10, deleted=4)
    >>> shrink_guard("users", source="sis", before=10, deleted=5, force=True)
    >>> shrink_guard("users", source="sis", before=10, deleted=5)
    Traceback (most recent call last):
    ...
    edtech_map.store.ShrinkGuardError: users of source 'sis': this pull would delete 5 of 10 rows (10 -> 5), 50% or more of what the store holds. A partial export looks like this; nothing was changed. Check the export, or use --force (force=True) if this is intended.
    """
    if force or before <= 0 or deleted <= 0:
        return
    if deleted >= max_shrink * before:
        raise ShrinkGuardError(table, source, before, deleted, max_shrink)


class Transaction:
    """Writes inside one open transaction of a :class:`Store` (see :meth:`Store.transaction`).

    Examples
    --------
    >>> import tempfile
    >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
    ...     with store.transaction() as tx:
    ...         isinstance(tx, Transaction)
    True
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.con = store.con
        self._views = 0

    @contextmanager
    def _registered(self, rows: pa.Table) -> Iterator[str]:
        self._views += 1
        view = f"_incoming_{self._views}"
        self.con.register(view, rows)
        try:
            yield view
        finally:
            self.con.unregister(view)

    def upsert(self, spec: TableSpec, rows: pa.Table | pa.RecordBatchReader, *, run_id: str) -> int:
        """Insert or update rows by primary key, in bulk; returns how many rows were written.

        ``rows`` has exactly the spec's columns (any order); ``run_id`` and ``last_seen`` are
        set here. A :class:`pyarrow.RecordBatchReader` is written one batch at a time, so a
        large pull never sits in memory at once.

        Raises
        ------
        StoreError
            When columns are missing or unknown, or a key repeats within one batch.

        Examples
        --------
        >>> import tempfile
        >>> spec = TableSpec("t", {"source": "VARCHAR", "k": "VARCHAR", "n": "BIGINT"},
        ...                  primary_key=("source", "k"))
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     store.ensure_table(spec)
        ...     with store.transaction() as tx:
        ...         first = tx.upsert(spec, pa.table({"source": ["s"], "k": ["a"], "n": [1]}),
        ...                           run_id="r1")
        ...         again = tx.upsert(spec, pa.table({"source": ["s"], "k": ["a"], "n": [2]}),
        ...                           run_id="r2")
        ...     store.query_arrow("SELECT n, run_id FROM t").to_pylist()
        [{'n': 2, 'run_id': 'r2'}]
        """
        self.store.ensure_table(spec)
        if isinstance(rows, pa.RecordBatchReader):
            return sum(
                self._upsert_table(spec, pa.Table.from_batches([batch]), run_id) for batch in rows
            )
        return self._upsert_table(spec, rows, run_id)

    def _upsert_table(self, spec: TableSpec, rows: pa.Table, run_id: str) -> int:
        if rows.num_rows == 0:
            return 0
        names = set(rows.column_names)
        missing = [c for c in spec.columns if c not in names]
        unknown = sorted(names - set(spec.columns))
        if missing or unknown:
            raise StoreError(
                f"upsert into {spec.name}: missing columns {missing}, unknown columns {unknown}; "
                f"rows must have exactly the columns of the table spec"
            )
        rows = rows.select(list(spec.columns)).cast(spec.arrow_schema())
        with self._registered(rows) as view:
            return self.upsert_select(spec, f"SELECT * FROM {view}", run_id=run_id)

    def upsert_select(self, spec: TableSpec, select: str, *, run_id: str) -> int:
        """Insert or update by primary key the rows a query on this connection gives.

        For bulk readers whose rows are already in DuckDB (staged temp tables): the rows go
        from the query to the table without a round trip through Arrow or Python. ``select``
        must give exactly the spec's columns, by name. Into a table that is still empty it is
        a plain insert (nothing can conflict), which is what a first import pays.

        Raises
        ------
        StoreError
            When the query gives other columns, or repeats a key.

        Examples
        --------
        >>> import tempfile
        >>> spec = TableSpec("t", {"source": "VARCHAR", "k": "VARCHAR", "n": "BIGINT"}, ("k",))
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     with store.transaction() as tx:
        ...         tx.upsert_select(spec, "SELECT 's' AS source, 'a' AS k, 1 AS n", run_id="r1")
        ...         tx.upsert_select(spec, "SELECT 's' AS source, 'a' AS k, 2 AS n", run_id="r2")
        ...     store.query_arrow("SELECT n, run_id FROM t").to_pylist()
        1
        1
        [{'n': 2, 'run_id': 'r2'}]
        """
        self.store.ensure_table(spec)
        got = [row[0] for row in self.con.execute(f"DESCRIBE {select}").fetchall()]
        if sorted(got) != sorted(spec.columns):
            raise StoreError(
                f"upsert into {spec.name}: the query gives columns {got}, the table has "
                f"{list(spec.columns)}; select exactly the columns of the table spec"
            )
        key = ", ".join(_q(c) for c in spec.primary_key)
        counted = self.con.execute(
            f"SELECT count(*), count(*) - count(DISTINCT ({key})) FROM ({select})"
        ).fetchall()[0]
        total, repeated = int(counted[0]), int(counted[1])
        if repeated:
            raise StoreError(
                f"upsert into {spec.name}: {repeated} rows repeat a primary key "
                f"({', '.join(spec.primary_key)}); de-duplicate them first"
            )
        if not total:
            return 0
        self._insert(spec, select, run_id, replace=True)
        return total

    def _insert(self, spec: TableSpec, select: str, run_id: str, *, replace: bool) -> None:
        """INSERT the query's rows with the bookkeeping columns; with ``replace``, rows whose
        key the table holds are replaced: ``ON CONFLICT`` where the table has its key index,
        a DELETE of those keys first where it has none. Into an empty table it is a plain
        insert, which is what a first import pays."""
        conflict = ""
        if replace and self._count(f"SELECT count(*) FROM (SELECT 1 FROM {_q(spec.name)} LIMIT 1)"):
            key = ", ".join(_q(c) for c in spec.primary_key)
            if self._has_key_constraint(spec):
                updates = [c for c in (*spec.columns, *BOOKKEEPING) if c not in spec.primary_key]
                conflict = (
                    f"ON CONFLICT ({key}) DO UPDATE SET "
                    + ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in updates)
                    if updates
                    else f"ON CONFLICT ({key}) DO NOTHING"
                )
            else:
                self._delete_matching(spec, select)
        columns = ", ".join(_q(c) for c in (*spec.columns, *BOOKKEEPING))
        data = ", ".join(f"i.{_q(c)}" for c in spec.columns)
        self.con.execute(
            f"INSERT INTO {_q(spec.name)} ({columns}) "
            f"SELECT {data}, ?, current_timestamp FROM ({select}) AS i {conflict}",
            [run_id],
        ).fetchall()

    def _delete_matching(self, spec: TableSpec, select: str) -> int:
        """Delete the rows whose primary key one of the query's rows has; returns how many."""
        match = " AND ".join(f"t.{_q(c)} = d.{_q(c)}" for c in spec.primary_key)
        return self._count(
            f"DELETE FROM {_q(spec.name)} AS t WHERE EXISTS "
            f"(SELECT 1 FROM ({select}) AS d WHERE {match})"
        )

    def _has_key_constraint(self, spec: TableSpec) -> bool:
        """Whether the table has its primary key as a constraint (stores made before a spec
        turned ``indexed`` off keep theirs, and ``ON CONFLICT`` needs it)."""
        if spec.indexed:
            return True
        found = self.con.execute(
            "SELECT count(*) FROM duckdb_constraints() "
            "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
            [spec.name],
        ).fetchall()
        return bool(found[0][0])

    def insert_new(self, spec: TableSpec, rows: pa.Table, *, run_id: str) -> int:
        """Append rows the caller knows are new (no key lookup); returns how many.

        For bulk writers that have already removed the keys the table holds (an anti-join),
        so the insert needs no conflict handling.

        Examples
        --------
        >>> import tempfile
        >>> spec = TableSpec("t", {"source": "VARCHAR", "k": "VARCHAR"}, ("k",), indexed=False)
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     with store.transaction() as tx:
        ...         tx.insert_new(spec, pa.table({"source": ["s"], "k": ["a"]}), run_id="r")
        ...         tx.upsert(spec, pa.table({"source": ["t"], "k": ["a"]}), run_id="r2")
        ...     store.query_arrow("SELECT source, run_id FROM t").to_pylist()
        1
        1
        [{'source': 't', 'run_id': 'r2'}]
        """
        self.store.ensure_table(spec)
        if rows.num_rows == 0:
            return 0
        rows = rows.select(list(spec.columns)).cast(spec.arrow_schema())
        with self._registered(rows) as view:
            self._insert(spec, f"SELECT * FROM {view}", run_id, replace=False)
        written: int = rows.num_rows
        return written

    def delete_keys(self, spec: TableSpec, keys: pa.Table) -> int:
        """Delete the rows whose primary key is in ``keys`` (delta ``tobedeleted`` rows).

        Examples
        --------
        >>> import tempfile
        >>> spec = TableSpec("t", {"source": "VARCHAR", "k": "VARCHAR"}, primary_key=("source", "k"))
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     with store.transaction() as tx:
        ...         _ = tx.upsert(spec, pa.table({"source": ["s", "s"], "k": ["a", "b"]}), run_id="r")
        ...         tx.delete_keys(spec, pa.table({"source": ["s"], "k": ["a"]}))
        1
        """
        self.store.ensure_table(spec)
        if keys.num_rows == 0:
            return 0
        key_columns = list(spec.primary_key)
        schema = spec.arrow_schema()
        keys = keys.select(key_columns).cast(pa.schema([schema.field(c) for c in key_columns]))
        with self._registered(keys) as view:
            return self._delete_matching(spec, f"SELECT * FROM {view}")

    def delete_stale(self, spec: TableSpec, *, source: str, keep_run_id: str) -> int:
        """Delete this source's rows that the run ``keep_run_id`` did not see; returns how many.

        Only rows whose ``source`` is ``source`` are touched, so one source's full pull never
        removes another's rows.

        Examples
        --------
        >>> import tempfile
        >>> spec = TableSpec("t", {"source": "VARCHAR", "k": "VARCHAR"}, primary_key=("source", "k"))
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     with store.transaction() as tx:
        ...         _ = tx.upsert(spec, pa.table({"source": ["a", "b"], "k": ["1", "1"]}), run_id="r1")
        ...         _ = tx.upsert(spec, pa.table({"source": ["a"], "k": ["2"]}), run_id="r2")
        ...         tx.delete_stale(spec, source="a", keep_run_id="r2")
        ...     sorted(store.query_arrow("SELECT source, k FROM t").to_pylist(), key=str)
        1
        [{'source': 'a', 'k': '2'}, {'source': 'b', 'k': '1'}]
        """
        self.store.ensure_table(spec)
        return self._count(
            f"DELETE FROM {_q(spec.name)} WHERE source = ? AND run_id IS DISTINCT FROM ?",
            [source, keep_run_id],
        )

    def count(self, spec: TableSpec, *, source: str) -> int:
        """How many rows of ``source`` the table holds now (inside this transaction).

        Examples
        --------
        >>> import tempfile
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     with store.transaction() as tx:
        ...         tx.count(USERS, source="sis")
        0
        """
        self.store.ensure_table(spec)
        return self._count(f"SELECT count(*) FROM {_q(spec.name)} WHERE source = ?", [source])

    def record_sync(
        self,
        source: str,
        stream: str,
        *,
        run_id: str,
        cursor: str | None,
        rows_read: int,
        rows_loaded: int,
        rows_skipped: int,
        started: datetime,
        complete: bool,
    ) -> None:
        """Record the outcome of one stream's pull; it commits with the rows it describes.

        Examples
        --------
        >>> import tempfile
        >>> from datetime import UTC
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     with store.transaction() as tx:
        ...         tx.record_sync("sis", "users", run_id="r1", cursor=None, rows_read=3,
        ...                        rows_loaded=2, rows_skipped=1,
        ...                        started=datetime.now(UTC), complete=True)
        ...     [(s["stream"], s["rows_loaded"]) for s in store.sync_state("sis")]
        [('users', 2)]
        """
        self.store.ensure_table(SYNC_STATE)
        self.con.execute(
            "INSERT INTO sync_state (source, stream, cursor, rows_read, rows_loaded, "
            "rows_skipped, started, finished, complete, run_id, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp, ?, ?, current_timestamp) "
            "ON CONFLICT (source, stream) DO UPDATE SET cursor = excluded.cursor, "
            "rows_read = excluded.rows_read, rows_loaded = excluded.rows_loaded, "
            "rows_skipped = excluded.rows_skipped, started = excluded.started, "
            "finished = excluded.finished, complete = excluded.complete, "
            "run_id = excluded.run_id, last_seen = excluded.last_seen",
            [
                source,
                stream,
                cursor,
                rows_read,
                rows_loaded,
                rows_skipped,
                started,
                complete,
                run_id,
            ],
        )

    def _count(self, sql: str, params: Sequence[object] = ()) -> int:
        # fetchall, not fetchone: DuckDB keeps a half-read result open and blocks the connection
        found = self.con.execute(sql, list(params)).fetchall()
        return int(found[0][0]) if found else 0


class Store:
    """One workspace's DuckDB store. Open it with :meth:`Store.open`; use it as a context manager.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with Store.open(folder / "store.duckdb") as store:
    ...     (folder / "secret.key").exists(), store.counts()
    (True, [])
    """

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, keys: KeyMaker) -> None:
        self.path = path
        self.con = con
        self.keys = keys
        self._ensured: set[str] = set()
        self._in_transaction = False

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        memory_limit: str | None = None,
        temp_directory: Path | None = None,
    ) -> Store:
        """Open (and by default create) the store at ``path``; the secret lives beside it.

        Raises
        ------
        StoreError
            When ``create`` is false and there is no store, or DuckDB cannot open the file.

        Examples
        --------
        >>> import tempfile
        >>> Store.open(Path(tempfile.mkdtemp()) / "none.duckdb", create=False)
        Traceback (most recent call last):
        ...
        edtech_map.store.StoreError: no store at .../none.duckdb; import a roster first (edtech-map import-roster) or pass --store
        """
        path = Path(path)
        if not path.exists() and not create:
            raise StoreError(
                f"no store at {path}; import a roster first (edtech-map import-roster) "
                f"or pass --store"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, str | bool | int | float | list[str]] = {}
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if temp_directory is not None:
            config["temp_directory"] = str(temp_directory)
        WorkspaceLock(path.parent, error=StoreError).acquire()  # one run per workspace
        try:
            con = duckdb.connect(str(path), config=config)
        except duckdb.Error as error:
            raise StoreError(
                f"{path}: DuckDB cannot open the store ({error}); is another edtech-map "
                f"process writing to it, or is the file not a DuckDB database?"
            ) from error
        store = cls(path, con, KeyMaker(load_or_create_secret(path.parent)))
        store.keys.install_sql(con)  # edtech_user_key(namespace, id) for bulk readers
        for spec in (*ROSTER_TABLES, SYNC_STATE):
            store.ensure_table(spec)
        log.debug("opened store %s", path)
        return store

    def ensure_table(self, spec: TableSpec) -> None:
        """Create the table of ``spec`` when it does not exist yet (safe to call often).

        Examples
        --------
        >>> import tempfile
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     store.ensure_table(TableSpec("extra", {"source": "VARCHAR"}, ("source",)))
        ...     store.query_arrow("SELECT count(*) AS n FROM extra").to_pylist()
        [{'n': 0}]
        """
        if spec.name in self._ensured:
            return
        self.con.execute(spec.ddl())
        self._ensured.add(spec.name)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One transaction: commits when the block ends, rolls back and re-raises on any error.

        Examples
        --------
        >>> import tempfile
        >>> spec = TableSpec("t", {"source": "VARCHAR"}, ("source",))
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     store.ensure_table(spec)
        ...     try:
        ...         with store.transaction() as tx:
        ...             _ = tx.upsert(spec, pa.table({"source": ["x"]}), run_id="r")
        ...             raise RuntimeError("boom")
        ...     except RuntimeError:
        ...         pass
        ...     store.query_arrow("SELECT count(*) AS n FROM t").to_pylist()
        [{'n': 0}]
        """
        if self._in_transaction:
            raise StoreError("a store transaction is already open; nest work inside it instead")
        self._in_transaction = True
        self.con.execute("BEGIN TRANSACTION")
        ensured_before = set(self._ensured)
        try:
            yield Transaction(self)
        except BaseException:
            self.con.execute("ROLLBACK")
            self._ensured = ensured_before  # tables created inside are rolled back too
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._in_transaction = False

    def query_arrow(self, sql: str, params: Sequence[object] = ()) -> pa.Table:
        """Run SQL and return the result as a :class:`pyarrow.Table`.

        Examples
        --------
        >>> import tempfile
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     store.query_arrow("SELECT ? AS answer", [42]).to_pylist()
        [{'answer': 42}]
        """
        table: pa.Table = self.con.sql(sql, params=list(params) or None).to_arrow_table()
        return table

    def query_df(self, sql: str, params: Sequence[object] = ()) -> pandas.DataFrame:
        """Run SQL and return a pandas DataFrame (needs the ``pandas`` extra).

        Examples
        --------
        >>> import tempfile
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     store.query_df("SELECT 1 AS one").to_dict("records")
        [{'one': 1}]
        """
        try:
            import pandas  # noqa: F401 -- lazily: pandas is an optional extra
        except ImportError as error:
            raise StoreError(
                "query_df needs pandas: pip install 'edtech-map[pandas]', or use query_arrow"
            ) from error
        frame: pandas.DataFrame = self.query_arrow(sql, params).to_pandas()
        return frame

    def tables(self) -> list[str]:
        """Names of the store's tables that carry a ``source`` column, sorted.

        Examples
        --------
        >>> import tempfile
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     "users" in store.tables() and "sync_state" in store.tables()
        True
        """
        found = self.con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE column_name = 'source' AND table_schema = 'main' ORDER BY 1"
        ).fetchall()
        return [str(row[0]) for row in found]

    def counts(self) -> list[dict[str, Any]]:
        """Rows per source per table (sync state left out), for ``edtech-map store info``.

        Examples
        --------
        >>> import tempfile
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     with store.transaction() as tx:
        ...         _ = tx.upsert(TableSpec("orgs_x", {"source": "VARCHAR"}, ("source",)),
        ...                       pa.table({"source": ["sis"]}), run_id="r")
        ...     store.counts()
        [{'source': 'sis', 'table': 'orgs_x', 'rows': 1}]
        """
        counts: list[dict[str, Any]] = []
        for table in self.tables():
            if table == SYNC_STATE.name:
                continue
            for source, rows in self.con.execute(
                f"SELECT source, count(*) FROM {_q(table)} GROUP BY source"
            ).fetchall():
                counts.append({"source": source, "table": table, "rows": int(rows)})
        return sorted(counts, key=lambda c: (str(c["source"]), str(c["table"])))

    def sync_state(self, source: str | None = None) -> list[dict[str, Any]]:
        """The last pull of each stream (of one source, or all), oldest source first.

        Examples
        --------
        >>> import tempfile
        >>> with Store.open(Path(tempfile.mkdtemp()) / "s.duckdb") as store:
        ...     store.sync_state()
        []
        """
        sql = (
            "SELECT source, stream, run_id, cursor, rows_read, rows_loaded, rows_skipped, "
            "started, finished, complete FROM sync_state"
        )
        params: list[object] = []
        if source is not None:
            sql += " WHERE source = ?"
            params.append(source)
        rows: list[dict[str, Any]] = self.query_arrow(
            sql + " ORDER BY source, stream", params
        ).to_pylist()
        return rows

    def close(self) -> None:
        """Close the DuckDB connection (the store object is unusable afterwards).

        Examples
        --------
        >>> import tempfile
        >>> Store.open(Path(tempfile.mkdtemp()) / "s.duckdb").close()
        """
        self.con.close()
        WorkspaceLock(self.path.parent).release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"
