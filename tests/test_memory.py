"""Memory safety: ingesting 100,000 Caliper events and a 100,000-enrollment roster keeps the
Python objects alive at any moment bounded by a batch, not by the file.

tracemalloc sees Python allocations only (Arrow and DuckDB allocate outside it), which is what
these tests are about: a reader or loader that kept every event or row as Python objects would
show here, whatever DuckDB does with its own buffer pool (capped separately by memory_limit).

How the bounds are chosen (the numbers were measured on this suite's own files):

* A materialised Caliper event (the ``UsageEvent`` with its strings and datetime, in a list)
  costs about 1 KB of traced memory: 100,000 of them measured 101 MiB. The ingest works in
  batches of 10,000 (``edtech_map.usage.BATCH_SIZE``): its traced peak measured 13.1 MiB for
  10,000 events and 13.1 MiB for 100,000. :data:`CALIPER_BOUND` (40 MiB) sits between, with
  three times the measured peak for noise and Python versions, and two and a half times
  below what keeping every event costs. The test measures that materialised cost on the same
  file and checks it is above the bound, so the bound cannot silently become meaningless.
* Growth: the peak for 100,000 events may not exceed the peak for 10,000 (one batch) by more
  than half, which a per-event leak (a list of every row, a dict of every id) would break.
* The roster: 100,000 enrollment rows read as dicts measured 81 MiB; the loader (Arrow
  batches of 5,000 rows) peaked at 28 MiB for 20,000 users and 100,000 enrollments, part of
  which is the set of keys seen so far that finds repeated ids within a file (it grows with
  the file, about 100 bytes a row). :data:`ROSTER_BOUND` is 50 MiB.
* Modules imported on first use are allocations too, so each test first runs once
  untraced on a tiny input.
"""

from __future__ import annotations

import csv
import itertools
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors import caliper, oneroster_csv
from connectors.base import SyncContext
from edtech_map.privacy import KeyMaker
from edtech_map.store import Store
from edtech_map.usage import ingest

EVENTS = 100_000
SMALL_EVENTS = 10_000
WARM_UP_EVENTS = 100
CALIPER_BOUND = 40 * 1024**2
"""Traced peak allowed while ingesting 100,000 events (see the module docstring)."""
ROSTER_BOUND = 50 * 1024**2
"""Traced peak allowed while loading 20,000 users and 100,000 enrollments."""
GROWTH_LIMIT = 1.5


def _caliper_line(i: int) -> str:
    user = f"https://sis.example.org/users/stu-{i % 5000:05d}"
    klass = f"https://sis.example.org/classes/cls-{i % 400:03d}"
    event = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "id": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
        "type": "NavigationEvent",
        "actor": {"id": user, "type": "Person"},
        "action": "NavigatedTo",
        "object": {"id": f"https://app.mathly.example/lesson/{i % 97}", "type": "WebPage"},
        "eventTime": f"2026-11-{1 + i % 20:02d}T{8 + i % 8:02d}:{i % 60:02d}:00.000Z",
        "edApp": {"id": "https://app.mathly.example/", "type": "SoftwareApplication"},
        "group": {
            "id": klass,
            "type": "CourseSection",
            "subOrganizationOf": {
                "id": "https://sis.example.org/orgs/org-1",
                "type": "Organization",
            },
        },
        "membership": {
            "id": f"{klass}/members/{i % 5000}",
            "type": "Membership",
            "member": user,
            "organization": klass,
            "roles": ["Learner"],
            "status": "Active",
        },
    }
    return json.dumps(event, separators=(",", ":")) + "\n"


def _caliper_file(folder: Path, events: int) -> Path:
    path = folder / f"caliper-{events}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(_caliper_line(i) for i in range(events))
    return path


@pytest.fixture(scope="module")
def caliper_files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("caliper")
    return {n: _caliper_file(folder, n) for n in (WARM_UP_EVENTS, SMALL_EVENTS, EVENTS)}


def _traced_peak(action: Callable[[], Any]) -> tuple[int, Any]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        value = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, value


def _ingest(path: Path, store_path: Path) -> Any:
    with Store.open(store_path, memory_limit="512MB") as store:
        return ingest(store, [path], format="caliper")


def test_caliper_ingest_keeps_python_objects_bounded_by_a_batch(
    caliper_files: dict[int, Path], tmp_path: Path
) -> None:
    # Untraced first: modules imported on first use would otherwise count as growth.
    _ingest(caliper_files[WARM_UP_EVENTS], tmp_path / "warm" / "store.duckdb")
    small_peak, _ = _traced_peak(
        lambda: _ingest(caliper_files[SMALL_EVENTS], tmp_path / "small" / "store.duckdb")
    )
    big = caliper_files[EVENTS]
    peak, report = _traced_peak(lambda: _ingest(big, tmp_path / "big" / "store.duckdb"))
    assert (report.read, report.loaded, report.rejected) == (EVENTS, EVENTS, 0)

    # What keeping every event would cost: a fifth of the file, materialised, times five.
    keys = KeyMaker(b"k" * 32)
    fifth, kept = _traced_peak(
        lambda: list(itertools.islice(caliper.read_caliper(big, keys), EVENTS // 5))
    )
    assert len(kept) == EVENTS // 5
    materialised = 5 * fifth

    assert peak < CALIPER_BOUND, f"traced peak {peak / 2**20:.1f} MiB"
    assert materialised > CALIPER_BOUND, f"materialised {materialised / 2**20:.1f} MiB"
    assert peak <= GROWTH_LIMIT * small_peak, (peak, small_peak)


def _roster(folder: Path, users: int, enrollments: int) -> Path:
    folder.mkdir(parents=True)
    with (folder / "orgs.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sourcedId", "status", "dateLastModified", "name", "type", "identifier",
                         "parentSourcedId"])  # fmt: skip
        writer.writerow(["org-1", "active", "2026-08-01", "Lincoln", "school", "LES", ""])
    with (folder / "classes.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sourcedId", "status", "dateLastModified", "title", "grades",
                         "courseSourcedId", "classCode", "classType", "location",
                         "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes",
                         "periods"])  # fmt: skip
        for c in range(400):
            writer.writerow([f"cls-{c}", "active", "2026-08-01", f"Class {c}", "05", "crs-1",
                             f"C{c}", "scheduled", "", "org-1", "term-1", "Math", "", "1"])  # fmt: skip
    with (folder / "users.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sourcedId", "status", "dateLastModified", "enabledUser",
                         "orgSourcedIds", "role", "username", "userIds", "givenName",
                         "familyName", "middleName", "identifier", "email", "sms", "phone",
                         "agentSourcedIds", "grades", "password"])  # fmt: skip
        for u in range(users):
            writer.writerow([f"stu-{u:06d}", "active", "2026-08-01", "true", "org-1",
                             "student", f"s{u}", "", f"Given{u}", f"Family{u}", "", f"{u}",
                             f"s{u}@district.example", "", "", "", "05", ""])  # fmt: skip
    with (folder / "enrollments.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sourcedId", "status", "dateLastModified", "classSourcedId",
                         "schoolSourcedId", "userSourcedId", "role", "primary",
                         "beginDate", "endDate"])  # fmt: skip
        for e in range(enrollments):
            writer.writerow([f"enr-{e:07d}", "active", "2026-08-01", f"cls-{e % 400}",
                             "org-1", f"stu-{e % users:06d}", "student", "false",
                             "2026-08-24", "2027-06-04"])  # fmt: skip
    return folder


def test_roster_load_keeps_python_objects_bounded_by_a_batch(tmp_path: Path) -> None:
    folder = _roster(tmp_path / "roster", users=20_000, enrollments=100_000)

    warm = _roster(tmp_path / "warm", users=10, enrollments=10)
    with Store.open(tmp_path / "warm-ws" / "store.duckdb") as store:  # imports, untraced
        oneroster_csv.sync(SyncContext(store=store, source="sis", options={"path": warm}))

    def load() -> Any:
        with Store.open(tmp_path / "ws" / "store.duckdb", memory_limit="512MB") as store:
            return oneroster_csv.sync(
                SyncContext(store=store, source="sis", options={"path": folder})
            )

    peak, report = _traced_peak(load)
    assert report.streams["enrollments"].loaded == 100_000
    assert report.streams["users"].loaded == 20_000

    def materialise() -> list[dict[str, str]]:
        with (folder / "enrollments.csv").open(newline="") as handle:
            return list(csv.DictReader(handle))

    materialised, rows = _traced_peak(materialise)
    assert len(rows) == 100_000
    assert peak < ROSTER_BOUND, f"traced peak {peak / 2**20:.1f} MiB"
    assert materialised > ROSTER_BOUND, f"materialised {materialised / 2**20:.1f} MiB"
