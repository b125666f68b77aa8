"""Pseudonymous keys for people: an HMAC of the id with a per-workspace secret.

The store keeps these keys instead of names, e-mails or source ids. Ids from the district's
own id space (SIS/OneRoster ``sourcedId``, which Clever, Caliper and xAPI usually carry too)
use the ``district`` namespace, so the same person gets the same key from every source; ids
only one system knows (a Canvas internal user id) use that system's name as namespace.

Examples
--------
>>> keys = KeyMaker(b"0" * 32)
>>> keys.user("stu-001") == keys.user("stu-001") != keys.user("stu-002")
True
>>> keys.user("stu-001") != keys.user("stu-001", namespace="canvas")
True
>>> len(keys.user("stu-001")), "stu-001" in keys.user("stu-001")
(24, False)
>>> KeyMaker(b"0" * 32)
KeyMaker(secret=**********)

The same keys come out of SQL, for bulk readers that pseudonymise a whole column in DuckDB
(:meth:`KeyMaker.install_sql`), so a million ids never become a million Python calls:

>>> import duckdb
>>> con = duckdb.connect()
>>> KeyMaker(b"0" * 32).install_sql(con)
>>> con.execute("SELECT edtech_user_key('district', ' stu-001')").fetchone()[0] == keys.user("stu-001")
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Protocol

from edtech_map.errors import EdtechMapError

__all__ = ["DISTRICT", "ID_WHITESPACE", "SQL_USER_KEY", "KeyMaker", "load_or_create_secret"]

DISTRICT = "district"
SECRET_FILE = "secret.key"
_SECRET_BYTES = 32
ID_WHITESPACE = " \t\n\r\x0b\x0c"
"""What is trimmed from both ends of an id before it is keyed (ASCII whitespace, as SQL trims)."""
SQL_USER_KEY = "edtech_user_key"
"""The SQL macro :meth:`KeyMaker.install_sql` defines: ``edtech_user_key(namespace, id)``."""
_BLOCK = 64  # SHA-256 block size, for HMAC's padded keys


class _Executes(Protocol):
    def execute(self, query: str, /) -> object: ...


class KeyMaker:
    """Makes stable pseudonymous keys; the secret never appears in its repr."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise EdtechMapError("the workspace secret is too short (need at least 16 bytes)")
        self._secret = secret

    def __repr__(self) -> str:
        return "KeyMaker(secret=**********)"

    def user(self, source_id: str, *, namespace: str = DISTRICT) -> str:
        """The pseudonymous key of a person: 24 hex characters (96 bits).

        Examples
        --------
        >>> KeyMaker(b"k" * 32).user(" Stu-1 ") == KeyMaker(b"k" * 32).user("Stu-1")
        True
        """
        message = f"{namespace}\x1f{source_id.strip(ID_WHITESPACE)}".encode()
        return hmac.digest(self._secret, message, "sha256").hex()[:24]

    def install_sql(self, con: _Executes) -> None:
        """Define the temporary SQL macro ``edtech_user_key(namespace, id)`` on ``con``.

        It is HMAC-SHA-256 written out in SQL (RFC 2104: the hash of the outer padded key
        and the hash of the inner padded key and the message), so it gives exactly
        :meth:`user`'s keys; NULL for a NULL id. The padded keys live only in the
        connection's temporary catalogue: queries that call the macro, and their errors,
        show its name, never the secret.

        Examples
        --------
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> keys = KeyMaker(b"k" * 32)
        >>> keys.install_sql(con)
        >>> con.execute(
        ...     "SELECT edtech_user_key('canvas', id) FROM (VALUES ('9'), (NULL)) AS t(id)"
        ... ).fetchall() == [(keys.user("9", namespace="canvas"),), (None,)]
        True
        """
        key = self._secret if len(self._secret) <= _BLOCK else hashlib.sha256(self._secret).digest()
        key = key.ljust(_BLOCK, b"\0")
        inner = bytes(b ^ 0x36 for b in key).hex()
        outer = bytes(b ^ 0x5C for b in key).hex()
        trim = "".join(
            f"chr({ord(c)})" + (" || " if i < len(ID_WHITESPACE) - 1 else "")
            for i, c in enumerate(ID_WHITESPACE)
        )
        con.execute(
            f"CREATE OR REPLACE TEMP MACRO {SQL_USER_KEY}(namespace, source_id) AS "
            f"CASE WHEN source_id IS NOT NULL THEN left(sha256(unhex('{outer}') || unhex(sha256("
            f"unhex('{inner}') || encode(namespace || chr(31) || "
            f"trim(CAST(source_id AS VARCHAR), {trim}))))), 24) END"
        )


def load_or_create_secret(workspace: Path) -> bytes:
    """Read the workspace secret from ``<workspace>/secret.key``, creating it (mode 0600).

    The file stays beside the store, never in ``ecosystem.yaml``; losing it means keys in
    the store can no longer be matched to new pulls (re-import to rebuild them).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> load_or_create_secret(folder) == load_or_create_secret(folder)
    True
    >>> oct((folder / "secret.key").stat().st_mode & 0o777)
    '0o600'
    """
    path = workspace / SECRET_FILE
    if path.exists():
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(secret) < 16:
            raise EdtechMapError(f"{path}: the secret is too short; delete it to make a new one")
        return secret
    workspace.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(_SECRET_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret.hex() + "\n")
    return secret
