"""Secrets never leave the process: every command that takes credentials, with ``--debug``.

Each REST source (and the xAPI LRS behind ``ingest --lrs``) is configured in a temporary
``ecosystem.yaml`` that names environment variables; the variables hold recognisable fake
secrets. The command runs twice against the source's fault server: a pull that is
rate-limited once and completes, and one whose token is revoked mid-pull (the fault suite
checks the error text of every other failure for secrets too). No secret (nor its Basic-auth encoding) may appear in stdout,
stderr, any log record at DEBUG, the JSON report, the exception, or any file the run wrote.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edtech_map.cli import app
from tests.http_faults import RateLimited, Unauthorized, threaded_server
from tests.reliability.test_faults import SOURCES, LaterPageFaults, RestSource, rest_source

SCENARIOS: dict[str, tuple[Callable[[], object], int, set[int]]] = {
    "rate_limited_once": (lambda: RateLimited(retry_after="0"), 1, {0}),
    "token_revoked": (Unauthorized, 100, {1, 2}),
}


def secret_forms(source: RestSource) -> set[str]:
    """The secret values, and the Basic-auth header value a key and secret make together."""
    secrets = {v for k, v in source.env.items() if "SECRET" in k or "TOKEN" in k}
    values = list(source.env.values())
    if len(values) == 2:
        pair = f"{values[0]}:{values[1]}".encode()
        secrets.add(base64.b64encode(pair).decode())
    return secrets


def command(source: RestSource, inventory: Path, store: Path) -> list[str]:
    where = ["--inventory", str(inventory), "--store", str(store), "--json"]
    if source.name == "xapi_lrs":
        return ["--debug", "ingest", "--lrs", "src", *where]
    return ["--debug", "pull", "src", *where]


class RecordKeeper(logging.Handler):
    """Keeps every record of the libraries' loggers. The CLI's ``logging.basicConfig(force=True)``
    replaces the root handlers (pytest's caplog among them), so this one sits lower down."""

    LOGGERS = ("connectors", "edtech_map", "urllib3", "requests_oauthlib", "oauthlib")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @contextmanager
    def attached(self) -> Iterator[None]:
        loggers = [logging.getLogger(name) for name in self.LOGGERS]
        for logger in loggers:
            logger.addHandler(self)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeHandler(self)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("name", SOURCES)
def test_no_secret_in_any_output(
    name: str,
    scenario: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    source = rest_source(name, lambda: request.getfixturevalue("fixtures_dir"))
    for variable, value in source.env.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the local token URL is http
    make, times, codes = SCENARIOS[scenario]
    with threaded_server() as server:
        source.install(server)
        faults = LaterPageFaults(server)
        inventory = tmp_path / "ecosystem.yaml"
        inventory.write_text(
            "district: {id: riverside, name: Riverside USD}\n"
            f"sources: {json.dumps({'src': source.inventory(server)})}\n",
            encoding="utf-8",
        )
        fault = make()
        faults.arm(fault, times)  # type: ignore[arg-type]  # every SCENARIOS maker is a Fault
        records = RecordKeeper()
        with records.attached():
            result = CliRunner().invoke(
                app,
                command(source, inventory, tmp_path / "ws" / "store.duckdb"),
                env={"COLUMNS": "200"},
            )
    assert result.exit_code in codes, result.output
    assert fault.calls >= 1  # type: ignore[attr-defined]
    texts = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "exception": repr(result.exception),
        "log records": "\n".join(r.getMessage() for r in records.records),
    }
    texts |= {
        str(path): path.read_bytes().decode("utf-8", errors="replace")
        for path in tmp_path.rglob("*")
        if path.is_file()
    }
    assert "Traceback" not in result.output
    assert any(r.levelno == logging.DEBUG for r in records.records), "--debug logged nothing"
    assert "DEBUG" in result.stderr
    for where, text in texts.items():
        for secret in secret_forms(source):
            assert secret not in text, f"{name}/{scenario}: a secret is in {where}"
