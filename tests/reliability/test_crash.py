"""Crash safety: ``edtech-map`` SIGKILLed mid-pull, mid-import and mid-write, and the lock.

Each test runs the real command line in a subprocess, kills it with SIGKILL at a chosen moment
(no handler runs, no ``finally``, no ``atexit``: what a power cut or the OOM killer does), then
checks what a later run finds:

* ``ecosystem.yaml`` is the old or the new version, never a mix: it loads and equals one;
* the store opens, ``PRAGMA database_size`` answers, and its rows are the rows of the last
  committed run (the pre-crash content, or -- when the kill came after the commit -- the new);
* the lock the killed run held is not in the way of the next run.

A second run on a workspace in use is refused with the lock's message, naming the first
run's PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from edtech_map.inventory import load_ecosystem, loads_ecosystem
from edtech_map.store import Store
from tests.http_faults import threaded_server
from tests.reliability.corruptions import BASE_BUNDLE
from tests.test_oneroster_rest import CLIENT_ID, CLIENT_SECRET, OneRosterServer, district

EDTECH_MAP = [str(Path(sys.executable).with_name("edtech-map"))]
CRASH_POINTS: list[str] = []
"""What was killed where, for ``docs/reliability.md``."""


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*EDTECH_MAP, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def kill(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    return process.returncode


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.001)
    return False


def store_rows(path: Path) -> dict[str, int]:
    """Open the store as a new run would; check it; count every table's rows."""
    with duckdb.connect(str(path)) as con:  # DuckDB opens it (replaying its WAL, if any)
        assert con.execute("PRAGMA database_size").fetchall()
    with Store.open(path, create=False) as store:
        return {
            table: int(store.con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])
            for table in store.tables()
        }


def module_available() -> None:
    probe = subprocess.run(
        [*EDTECH_MAP, "--help"], check=False, capture_output=True, text=True, timeout=60
    )
    if probe.returncode != 0:
        pytest.skip(f"the edtech-map script beside {sys.executable} does not run")


# -- a big roster, written without the reader ---------------------------------------------------


def big_bundle(folder: Path, students: int) -> dict[str, int]:
    """The base bundle with ``students`` more students, each in one class; returns the counts."""
    folder.mkdir(parents=True)
    for name, text in BASE_BUNDLE.items():
        (folder / name).write_text(text, encoding="utf-8")
    with (folder / "users.csv").open("a", encoding="utf-8") as users:
        for n in range(students):
            users.write(
                f"s{n:07d},active,2026-08-01,true,org-1,student,u{n},,G{n},F{n},,,"
                f"u{n}@s.example,,,,05,\n"
            )
    with (folder / "enrollments.csv").open("a", encoding="utf-8") as enrollments:
        for n in range(students):
            enrollments.write(
                f"e{n:07d},active,2026-08-01,cls-{1 + n % 2},org-1,s{n:07d},student,false,"
                f"2026-08-24,2027-06-04\n"
            )
    return {"users": 3 + students, "enrollments": 3 + students}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    module_available()
    root = tmp_path_factory.mktemp("bundles")
    small = root / "small"
    big_bundle(small, 0)
    big = root / "big"
    return small, big, big_bundle(big, 60_000)


# -- (a) and (c): killed mid-import, mid-store-write ---------------------------------------------


@pytest.mark.parametrize("moment", ["reading", "writing"])
def test_a_killed_roster_import_leaves_the_last_committed_store(
    moment: str, bundles: tuple[Path, Path, dict[str, int]], tmp_path: Path
) -> None:
    small, big, big_counts = bundles
    store = tmp_path / "ws" / ".edtech-map" / "store.duckdb"
    first = cli("import-roster", str(small), "--store", str(store))
    assert first.wait(timeout=120) == 0, first.communicate()
    before = store_rows(store)

    run = cli("import-roster", str(big), "--store", str(store), "--force")
    wal = store.with_name(store.name + ".wal")
    size = store.stat().st_size
    if moment == "reading":
        started = wait_for((store.parent / "edtech-map.lock").exists, 60)
        time.sleep(0.3)
    else:  # once DuckDB writes: its WAL appears or the file grows
        started = wait_for(lambda: wal.exists() or store.stat().st_size != size, 60)
    code = kill(run)
    CRASH_POINTS.append(f"import-roster, {moment}: exit {code}")
    assert started, "the import never got going"
    after = store_rows(store)
    if code == -signal.SIGKILL:  # killed before its commit, or (rarely) just after it
        committed = all(after[table] == rows for table, rows in big_counts.items())
        assert after == before or committed, (before, after)
    # the killed run's lock is not in the way
    again = cli("import-roster", str(small), "--store", str(store), "--force")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err[-2000:]


def slow_oneroster(server: HTTPServer, reached: threading.Event) -> None:
    """The OneRoster test district, with the users' third page never answered in time."""
    provider = OneRosterServer(server, district(students=40))
    provider.install()
    original = provider.handle

    def handle(request: Request) -> Response:
        if request.path.endswith("/users") and request.args.get("offset") == "10":
            reached.set()
            time.sleep(30)  # the client is killed long before this
        response: Response = original(request)
        return response

    provider.handle = handle  # type: ignore[method-assign]  # the slow page
    server.clear()
    provider.install()


def test_a_pull_killed_mid_way_leaves_the_store_and_the_next_pull_completes(
    tmp_path: Path,
) -> None:
    module_available()
    reached = threading.Event()
    store = tmp_path / ".edtech-map" / "store.duckdb"
    inventory = tmp_path / "ecosystem.yaml"
    env = {"SIS_CLIENT_ID": CLIENT_ID, "SIS_CLIENT_SECRET": CLIENT_SECRET}
    with threaded_server() as server:
        OneRosterServer(server, district(students=40)).install()
        inventory.write_text(
            "district: {id: riverside, name: Riverside USD}\nsources:\n  sis:\n"
            "    kind: oneroster_rest\n"
            f"    base_url: {server.url_for('/')}\n"
            "    secrets: {client_id: SIS_CLIENT_ID, client_secret: SIS_CLIENT_SECRET}\n"
            "    options: {page_size: 5, retries: 0, timeout: 60}\n",
            encoding="utf-8",
        )
        first = cli("pull", "sis", "--inventory", str(inventory), env=env)
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err[-2000:]
        before = store_rows(store)
        server.clear()
        slow_oneroster(server, reached)
        run = cli("pull", "sis", "--inventory", str(inventory), env=env)
        assert reached.wait(60), "the pull never reached the slow page"
        code = kill(run)
        CRASH_POINTS.append(f"pull (OneRoster REST), waiting on page 3 of users: exit {code}")
        assert code == -signal.SIGKILL
        assert store_rows(store) == before
        server.clear()
        OneRosterServer(server, district(students=40)).install()
        again = cli("pull", "sis", "--inventory", str(inventory), env=env)
        _, err = again.communicate(timeout=120)
        assert again.returncode == 0, err[-2000:]
    assert store_rows(store) == before


# -- (b): killed while ecosystem.yaml is written ------------------------------------------------

OLD_YAML = "# the director's notes\ndistrict: {id: testd, name: Test District}\ntools: []\n"


def spreadsheet(path: Path, tools: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("Name,Category,Grades,Notes\n")
        for n in range(tools):
            handle.write(f"Tool {n:05d},assessment,K-5,{'note ' * 40}\n")


def test_a_killed_import_leaves_the_old_or_the_new_inventory(tmp_path: Path) -> None:
    module_available()
    sheet = tmp_path / "tools.csv"
    spreadsheet(sheet, 600)
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "ecosystem.yaml").write_text(OLD_YAML, encoding="utf-8")
    done = cli("import", str(sheet), "--inventory", str(reference / "ecosystem.yaml"))
    assert done.wait(timeout=300) == 0, done.communicate()
    old, new = loads_ecosystem(OLD_YAML), load_ecosystem(reference / "ecosystem.yaml")

    caught = 0
    for attempt in range(2):
        folder = tmp_path / f"try-{attempt}"
        folder.mkdir()
        inventory = folder / "ecosystem.yaml"
        inventory.write_text(OLD_YAML, encoding="utf-8")
        run = cli("import", str(sheet), "--inventory", str(inventory))
        wait_for(  # until the temp file shows, or the run has finished without one seen
            lambda f=folder, r=run: (  # type: ignore[misc]
                r.poll() is not None or any(p.name.endswith(".tmp") for p in f.iterdir())
            ),
            120,
        )
        temp = any(p.name.endswith(".tmp") for p in folder.iterdir())
        code = kill(run)
        caught += temp and code == -signal.SIGKILL
        CRASH_POINTS.append(f"import (spreadsheet), temp file present={temp}: exit {code}")
        assert load_ecosystem(inventory) in (old, new)
        text = inventory.read_text(encoding="utf-8")
        assert text == OLD_YAML or "# the director's notes" in text
    assert caught >= 1, "no kill landed while the new file was being written"


# -- the lock: two runs, one workspace -----------------------------------------------------------


def test_a_second_run_on_a_busy_workspace_is_refused_with_the_holders_pid(
    bundles: tuple[Path, Path, dict[str, int]], tmp_path: Path
) -> None:
    small, big, _ = bundles
    store = tmp_path / ".edtech-map" / "store.duckdb"
    lock = store.parent / "edtech-map.lock"
    first = cli("import-roster", str(big), "--store", str(store))
    assert wait_for(lambda: lock.exists() and lock.stat().st_size > 0, 60)
    second = cli("import-roster", str(small), "--store", str(store))
    out, err = second.communicate(timeout=120)
    assert second.returncode == 2, (out, err)
    message = " ".join(err.split())
    assert f"another edtech-map (pid {first.pid}, started " in message, message
    assert f"wait for it or remove {lock} if it is gone" in message
    assert "Traceback" not in err
    kill(first)
    third = cli("import-roster", str(small), "--store", str(store), "--force")
    assert third.wait(timeout=120) == 0, third.communicate()


def test_zz_print_the_crash_points() -> None:
    for point in CRASH_POINTS:
        print(point)


# -- the lock where fcntl is missing: O_EXCL and a PID check ------------------------------------


def test_without_fcntl_a_dead_holders_lock_is_taken_over_and_a_live_ones_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edtech_map import workspace_lock
    from edtech_map.workspace_lock import LOCK_NAME, WorkspaceLock, WorkspaceLockedError

    monkeypatch.setattr(workspace_lock, "fcntl", None)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a PID that no longer runs
    lock_file = tmp_path / LOCK_NAME
    lock_file.write_text(f'{{"pid": {gone.pid}, "started": "earlier"}}', encoding="utf-8")
    with WorkspaceLock(tmp_path) as lock:
        assert workspace_lock.read_holder(lock.path).pid == os.getpid()  # type: ignore[union-attr]
    assert not lock_file.exists()

    lock_file.write_text(f'{{"pid": {os.getppid()}, "started": "now"}}', encoding="utf-8")
    with pytest.raises(WorkspaceLockedError) as refused:
        WorkspaceLock(tmp_path).acquire()
    assert f"another edtech-map (pid {os.getppid()}, started now) is using {tmp_path}" in str(
        refused.value
    )
