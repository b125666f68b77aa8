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
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from edtech_map.errors import EdtechMapError

__all__ = ["DISTRICT", "KeyMaker", "load_or_create_secret"]

DISTRICT = "district"
SECRET_FILE = "secret.key"
_SECRET_BYTES = 32


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
        message = f"{namespace}\x1f{source_id.strip()}".encode()
        return hmac.digest(self._secret, message, "sha256").hex()[:24]


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
