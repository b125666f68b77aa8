"""The SQL key macro gives exactly the keys KeyMaker.user gives, for any id and secret."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from edtech_map.privacy import ID_WHITESPACE, KeyMaker

# Text that Python can encode to UTF-8 (no lone surrogates), as every id read from a file is.
ids = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
padded = st.builds(
    lambda left, core, right: left + core + right,
    st.text(st.sampled_from(ID_WHITESPACE), max_size=3),
    ids,
    st.text(st.sampled_from(ID_WHITESPACE), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=100),
    namespace=st.sampled_from(["district", "canvas", "google", "x\u00e9"]),
    source_id=st.one_of(ids, padded),
)
def test_sql_key_equals_python_key(secret: bytes, namespace: str, source_id: str) -> None:
    keys = KeyMaker(secret)
    con = duckdb.connect()
    keys.install_sql(con)
    got = con.execute("SELECT edtech_user_key(?, ?)", [namespace, source_id]).fetchone()
    assert got is not None
    assert got[0] == keys.user(source_id, namespace=namespace)


def test_macro_body_keeps_the_secret_out_of_errors() -> None:
    secret = bytes(range(16, 48))
    con = duckdb.connect()
    KeyMaker(secret).install_sql(con)
    try:
        con.execute("SELECT edtech_user_key('district')")
    except duckdb.Error as error:
        message = str(error)
    else:  # pragma: no cover - the call above is wrong on purpose
        raise AssertionError("a wrong call was accepted")
    assert "edtech_user_key" in message
    padded = secret.ljust(64, b"\0")
    for pad in (0x36, 0x5C):
        assert bytes(b ^ pad for b in padded).hex() not in message
    assert secret.hex() not in message


def test_whole_column_keys_match() -> None:
    keys = KeyMaker(b"s" * 32)
    con = duckdb.connect()
    keys.install_sql(con)
    rows = con.execute(
        "SELECT 'stu-' || i AS id, edtech_user_key('district', 'stu-' || i) FROM range(1000) t(i)"
    ).fetchall()
    assert all(key == keys.user(source_id) for source_id, key in rows)
    assert len({key for _, key in rows}) == 1000
