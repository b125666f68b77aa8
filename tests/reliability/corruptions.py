"""Small, valid base inputs and the corruptions the bad-input corpus applies to them.

Every corruption is a pure function of bytes (or of a parsed record) named for what it breaks,
so a failing case says what went wrong: ``users.csv/invalid_utf8``. The bases are tiny and
written out here, independently of the readers, so that the suite knows how many records each
one holds without asking the code it tests.

Examples
--------
>>> truncated(b"abcdef")
b'abc'
>>> nul_bytes(b"a,b\\nc,d\\n")
b'a,b\\nc,\\x00d\\n'
>>> sorted(BYTE_CORRUPTIONS)[:3]
['binary_garbage', 'bom_and_crlf', 'empty']
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BASE_BUNDLE",
    "BYTE_CORRUPTIONS",
    "CALIPER_EVENTS",
    "USAGE_CSV",
    "XAPI_STATEMENTS",
    "Case",
    "bundle_cases",
    "csv_records",
    "inventory_cases",
    "json_line_cases",
    "nul_bytes",
    "truncated",
    "zip_cases",
]

# -- bases --------------------------------------------------------------------------------------

BASE_BUNDLE: dict[str, str] = {
    "manifest.csv": (
        "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.orgs,bulk\n"
        "file.academicSessions,bulk\nfile.courses,bulk\nfile.classes,bulk\nfile.users,bulk\n"
        "file.enrollments,bulk\nfile.demographics,absent\n"
    ),
    "orgs.csv": (
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
        "org-d,active,2026-08-01,Test District,district,D1,\n"
        "org-1,active,2026-08-01,Test Elementary,school,S1,org-d\n"
    ),
    "academicSessions.csv": (
        "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,"
        "schoolYear\nsy-1,active,2026-08-01,2026-27,schoolYear,2026-08-24,2027-06-04,,2027\n"
    ),
    "courses.csv": (
        "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,"
        "orgSourcedId,subjects,subjectCodes\n"
        "crs-1,active,2026-08-01,sy-1,Math 5,M5,05,org-1,Mathematics,\n"
    ),
    "classes.csv": (
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,"
        "location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n"
        "cls-1,active,2026-08-01,Math 5 - 1,05,crs-1,M5-1,scheduled,Room 1,org-1,sy-1,"
        "Mathematics,,1\n"
        "cls-2,active,2026-08-01,Math 5 - 2,05,crs-1,M5-2,scheduled,Room 2,org-1,sy-1,"
        "Mathematics,,2\n"
    ),
    "users.csv": (
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
        "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,"
        "password\n"
        "tch-1,active,2026-08-01,true,org-1,teacher,tq1,,Tamsin,Quell,,t1,tq1@t.example,,,,,\n"
        "stu-1,active,2026-08-01,true,org-1,student,zq1,,Zora,Quist,,s1,zq1@s.example,,,,05,\n"
        "stu-2,active,2026-08-01,true,org-1,student,yv2,,Yanek,Vors,,s2,yv2@s.example,,,,05,\n"
    ),
    "enrollments.csv": (
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,"
        "primary,beginDate,endDate\n"
        "enr-1,active,2026-08-01,cls-1,org-1,tch-1,teacher,true,2026-08-24,2027-06-04\n"
        "enr-2,active,2026-08-01,cls-1,org-1,stu-1,student,false,2026-08-24,2027-06-04\n"
        "enr-3,active,2026-08-01,cls-2,org-1,stu-2,student,false,2026-08-24,2027-06-04\n"
    ),
}
"""A complete, valid OneRoster 1.1 bundle: 2 orgs, 1 session, 1 course, 2 classes, 3 users."""


def _caliper(n: int, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "id": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        "type": "NavigationEvent",
        "actor": {"id": f"https://sis.t.example/users/stu-{n}", "type": "Person"},
        "action": "NavigatedTo",
        "object": {"id": "https://app.mathly.example/lessons/1", "type": "WebPage"},
        "eventTime": f"2026-11-02T14:{n % 60:02d}:00.000Z",
        "edApp": {"id": "https://app.mathly.example/", "type": "SoftwareApplication"},
        "membership": {"roles": ["Learner"]},
    }
    event.update(changes)
    return event


CALIPER_EVENTS: list[dict[str, Any]] = [_caliper(n) for n in range(1, 7)]


def _statement(n: int, **changes: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "actor": {"objectType": "Agent", "mbox": f"mailto:stu{n}@s.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attended", "display": {"en-US": "attended"}},
        "object": {"objectType": "Activity", "id": f"https://app.mathly.example/lessons/{n}"},
        "timestamp": f"2026-11-02T14:{n % 60:02d}:00+00:00",
    }
    statement.update(changes)
    return statement


XAPI_STATEMENTS: list[dict[str, Any]] = [_statement(n) for n in range(1, 7)]

USAGE_CSV = (
    "date,user_id,role,school_id,app,minutes\n"
    "2026-11-02,stu-1,student,org-1,Mathly,12.5\n"
    "2026-11-02,stu-2,student,org-1,Mathly,3\n"
    "2026-11-03,tch-1,teacher,org-1,Mathly,20\n"
)

# -- byte-level corruptions ---------------------------------------------------------------------


def _middle(data: bytes) -> int:
    """An offset in the middle of the second half's first line (inside a record, not a header)."""
    newline = data.find(b"\n", len(data) // 2)
    return (newline + 1 + data.find(b",", newline + 1)) // 2 if newline >= 0 else len(data) // 2


def truncated(data: bytes) -> bytes:
    """The first half of the bytes: a download cut short."""
    return data[: len(data) // 2]


def truncated_mid_character(data: bytes) -> bytes:
    """A multi-byte character, then the end of the file inside it."""
    return data[: len(data) // 2] + "é".encode()[:1]


def invalid_utf8(data: bytes) -> bytes:
    """Bytes that are not UTF-8 (a Latin-1 export) in the middle of a record."""
    at = _middle(data)
    return data[:at] + b"\xe9\xff\xfe" + data[at:]


def nul_bytes(data: bytes) -> bytes:
    """A NUL byte inside the last record (what a crashed writer leaves)."""
    at = data.rfind(b",") + 1 if b"," in data else len(data) // 2
    return data[:at] + b"\x00" + data[at:]


def huge_line(data: bytes) -> bytes:
    """One extra line of 2 MiB with no line break."""
    return data + b"x" * (2 * 1024**2) + b"\n"


def empty(data: bytes) -> bytes:
    """No bytes at all."""
    return b""


def bom_and_crlf(data: bytes) -> bytes:
    """A UTF-8 byte-order mark and Windows line ends (valid; must read like the original)."""
    return b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")


def binary_garbage(data: bytes) -> bytes:
    """Random-looking bytes in place of the file (a PNG saved under the wrong name)."""
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


BYTE_CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": truncated,
    "truncated_mid_character": truncated_mid_character,
    "invalid_utf8": invalid_utf8,
    "nul_bytes": nul_bytes,
    "huge_line": huge_line,
    "empty": empty,
    "bom_and_crlf": bom_and_crlf,
    "binary_garbage": binary_garbage,
}

# -- cases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One input to try: a name (``file/corruption``), its kind, and its files' bytes."""

    name: str
    kind: str
    files: dict[str, bytes]

    def __repr__(self) -> str:
        return self.name


def csv_records(data: bytes, *, empty_fields_are_blank: bool = False) -> int:
    """Records in CSV bytes counted without the readers: rows after the header, blank ones not.

    A blank line is no record. ``empty_fields_are_blank`` also discounts rows whose every field
    is empty (``,,,``), which the usage CSV reader passes over: they carry nothing to lose.

    Examples
    --------
    >>> csv_records(b"a,b\\n1,2\\n\\n3,4\\n,\\n")
    3
    >>> csv_records(b"a,b\\n1,2\\n,\\n", empty_fields_are_blank=True)
    1
    """
    text = data.decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if empty_fields_are_blank:
        kept = [row for row in rows if any(cell.strip() for cell in row)]
    else:
        kept = [row for row in rows if row and (len(row) > 1 or row[0].strip())]
    return max(len(kept) - 1, 0)


def _replace_line(text: str, number: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[number] = new if new.endswith("\n") else new + "\n"
    return "".join(lines)


def _csv_edits() -> Iterator[tuple[str, str, str]]:
    """(file, corruption kind, new text) for the OneRoster-specific corruptions."""
    b = BASE_BUNDLE
    users, enrollments, classes = b["users.csv"], b["enrollments.csv"], b["classes.csv"]
    yield "users.csv", "wrong_types", users.replace("teacher", "pupil").replace(",05,", ",13th,")
    yield "users.csv", "missing_required_value", users.replace("stu-1,", ",", 1)
    yield (
        "users.csv",
        "missing_required_column",
        "\n".join(",".join(row.split(",")[1:]) for row in users.splitlines()) + "\n",
    )
    yield "users.csv", "duplicate_ids", users + users.splitlines()[2] + "\n"
    yield "users.csv", "ragged_row", _replace_line(users, 2, users.splitlines()[2] + ",extra,x")
    yield "users.csv", "short_row", _replace_line(users, 3, "stu-2,active")
    yield "users.csv", "unbalanced_quote", _replace_line(users, 2, '"stu-1,active,2026')
    yield "users.csv", "header_only", users.splitlines()[0] + "\n"
    yield "classes.csv", "wrong_types", classes.replace("2026-08-01", "yesterday", 1)
    yield "enrollments.csv", "dangling_references", enrollments.replace("cls-2", "cls-404")
    yield "enrollments.csv", "wrong_types", enrollments.replace("student,false", "student,maybe")
    yield "enrollments.csv", "duplicate_ids", enrollments + enrollments.splitlines()[1] + "\n"
    yield (
        "manifest.csv",
        "wrong_types",
        b["manifest.csv"].replace("file.users,bulk", "file.users,sometimes"),
    )
    yield (
        "manifest.csv",
        "missing_required_value",
        b["manifest.csv"].replace("oneroster.version,1.1", "oneroster.version,"),
    )
    yield "manifest.csv", "dangling_references", b["manifest.csv"] + "file.lineItems,bulk\n"


def bundle_cases() -> list[Case]:
    """The base bundle with one file corrupted per case (byte-level and OneRoster-specific)."""
    base = {name: text.encode() for name, text in BASE_BUNDLE.items()}
    cases = [Case("bundle/valid", "valid", dict(base))]
    for name in ("users.csv", "enrollments.csv", "manifest.csv"):
        for kind, corrupt in BYTE_CORRUPTIONS.items():
            cases.append(Case(f"{name}/{kind}", kind, {**base, name: corrupt(base[name])}))
    for name, kind, text in _csv_edits():
        cases.append(Case(f"{name}/{kind}", kind, {**base, name: text.encode()}))
    return cases


def _zip(members: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_cases() -> list[Case]:
    """OneRoster zips: valid, bombs, path traversal, nested folders, damage.

    The bomb is small on disk (about 20 KiB) and 24 MiB inflated, so refusing it is quick and
    failing to refuse it is still visible.
    """
    members = [(name, text.encode()) for name, text in BASE_BUNDLE.items()]
    valid = _zip(members)
    bomb_member = ("users.csv", BASE_BUNDLE["users.csv"].encode() + b" " * (24 * 1024**2))
    damaged = bytearray(valid)
    start = valid.find(b"PK\x03\x04", valid.find(b"users.csv") - 40)
    for i in range(start + 60, start + 90):
        damaged[i] ^= 0x5A
    entries = {
        "valid": valid,
        "zip_bomb_ratio": _zip([m for m in members if m[0] != "users.csv"] + [bomb_member]),
        "path_traversal": _zip([*members, ("../../evil.csv", b"sourcedId\nx\n")]),
        "absolute_path": _zip([*members, ("/etc/evil.csv", b"sourcedId\nx\n")]),
        "windows_path": _zip([*members, ("C:\\evil.csv", b"sourcedId\nx\n")]),
        "nested_folders": _zip([*members, ("other/orgs.csv", BASE_BUNDLE["orgs.csv"].encode())]),
        "in_one_folder": _zip([(f"export/{n}", d) for n, d in members]),
        "truncated_zip": valid[: len(valid) // 2],
        "damaged_member": bytes(damaged),
        "not_a_zip": b"sourcedId,name\n1,x\n",
        "empty_zip": _zip([]),
        "stored_not_deflated": _zip(members, compression=zipfile.ZIP_STORED),
    }
    return [
        Case(f"bundle.zip/{kind}", kind, {"bundle.zip": data}) for kind, data in entries.items()
    ]


def _jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def json_line_cases(fmt: str) -> list[Case]:
    """Caliper or xAPI as JSON Lines and as one JSON document, valid and corrupted."""
    base = CALIPER_EVENTS if fmt == "caliper" else XAPI_STATEMENTS
    make = _caliper if fmt == "caliper" else _statement
    when = "eventTime" if fmt == "caliper" else "timestamp"
    required = "actor"
    deep = "[" * 100_000 + "]" * 100_000
    records: dict[str, list[Any] | bytes] = {
        "valid": base,
        "wrong_types": [make(1, actor=42), make(2, **{when: "soon"}), make(3, id=["x"]), *base[3:]],
        "missing_required": [{k: v for k, v in r.items() if k != required} for r in base[:2]]
        + base[2:],
        "duplicate_ids": base + base[:2],
        "not_objects": [*base[:2], [1, 2], 7, None, "text", *base[2:]],
        "deep_nesting": _jsonl(base[:2]) + deep.encode() + b"\n" + _jsonl(base[2:]),
        "broken_line": _jsonl(base[:2]) + b'{"id": "urn:uuid:1", "actor": \n' + _jsonl(base[2:]),
        "dangling_references": [make(1, actor={"id": "https://nowhere.example/u/404"}), *base[1:]],
    }
    cases = []
    for kind, value in records.items():
        data = value if isinstance(value, bytes) else _jsonl(value)
        cases.append(Case(f"{fmt}.jsonl/{kind}", kind, {"events.jsonl": data}))
    lines = _jsonl(base)
    for kind, corrupt in BYTE_CORRUPTIONS.items():
        cases.append(Case(f"{fmt}.jsonl/{kind}", kind, {"events.jsonl": corrupt(lines)}))
    document = json.dumps(base, indent=1).encode()
    for kind in ("valid", "truncated", "invalid_utf8", "nul_bytes", "binary_garbage"):
        data = document if kind == "valid" else BYTE_CORRUPTIONS[kind](document)
        cases.append(Case(f"{fmt}.json/{kind}", kind, {"events.json": data}))
    return cases


def usage_csv_cases() -> list[Case]:
    """The usage CSV, valid and corrupted."""
    base = USAGE_CSV.encode()
    cases = [Case("usage.csv/valid", "valid", {"usage.csv": base})]
    for kind, corrupt in BYTE_CORRUPTIONS.items():
        cases.append(Case(f"usage.csv/{kind}", kind, {"usage.csv": corrupt(base)}))
    edits = {
        "wrong_types": USAGE_CSV.replace("12.5", "twelve").replace("2026-11-03", "someday"),
        "missing_required_value": USAGE_CSV.replace("stu-2", ""),
        "missing_required_column": USAGE_CSV.replace("date,", "when,"),
        "ragged_row": USAGE_CSV.replace("Mathly,3", "Mathly,3,extra"),
        "unbalanced_quote": USAGE_CSV.replace("2026-11-02,stu-2", '"2026-11-02,stu-2'),
        "duplicate_ids": USAGE_CSV + USAGE_CSV.splitlines()[1] + "\n",
    }
    for kind, text in edits.items():
        cases.append(Case(f"usage.csv/{kind}", kind, {"usage.csv": text.encode()}))
    return cases


INVENTORY_BASE = """\
# a small inventory
version: 1
district: {id: testd, name: Test District, timezone: America/Chicago}
schools:
  - {id: test-es, name: Test Elementary, type: elementary, grades: K-5}
tools:
  - id: mathly
    name: Mathly
    category: adaptive_practice
  - id: readly
    name: Readly
    category: content
"""


def inventory_cases() -> list[Case]:
    """ecosystem.yaml, valid and corrupted (YAML-level and model-level)."""
    base = INVENTORY_BASE.encode()
    cases = [Case("ecosystem.yaml/valid", "valid", {"ecosystem.yaml": base})]
    for kind, corrupt in BYTE_CORRUPTIONS.items():
        cases.append(Case(f"ecosystem.yaml/{kind}", kind, {"ecosystem.yaml": corrupt(base)}))
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    edits = {
        "wrong_types": INVENTORY_BASE.replace("category: adaptive_practice", "category: [1, 2]"),
        "wrong_types_scalar": INVENTORY_BASE.replace("version: 1", "version: one"),
        "missing_required": INVENTORY_BASE.replace(
            "district: {id: testd, name: Test District, timezone: America/Chicago}\n", ""
        ),
        "missing_required_value": INVENTORY_BASE.replace("    name: Readly\n", ""),
        "duplicate_ids": INVENTORY_BASE.replace("id: readly", "id: mathly"),
        "duplicate_keys": INVENTORY_BASE.replace(
            "    category: content\n", "    category: content\n    category: lms\n"
        ),
        "dangling_references": INVENTORY_BASE
        + "flows:\n  - {source: mathly, target: nowhere-404, mechanism: api, data: [roster]}\n",
        "bad_yaml_syntax": INVENTORY_BASE.replace("tools:", "tools: [unclosed"),
        "tab_indent": INVENTORY_BASE.replace("    name: Mathly", "\tname: Mathly"),
        "not_a_mapping": "- just\n- a list\n",
        "billion_laughs": laughs,
        "python_tag": INVENTORY_BASE + "evil: !!python/object/apply:os.system ['true']\n",
        "huge_value": INVENTORY_BASE.replace("name: Readly", "name: " + "R" * 2_000_000),
    }
    for kind, text in edits.items():
        cases.append(Case(f"ecosystem.yaml/{kind}", kind, {"ecosystem.yaml": text.encode()}))
    return cases
