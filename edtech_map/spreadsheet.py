"""Import a tool inventory kept as a spreadsheet (CSV or XLSX) into the ecosystem.

Many districts keep their app list in a spreadsheet. Each row is a tool; headers are matched
case-insensitively with common synonyms (``Tool Name``, ``Vendor``, ``Grade Levels``,
``DPA Status`` …, see :data:`COLUMN_ALIASES`). Lists go in one cell separated by ``,``, ``;``
or new lines. Rows are merged into an existing ecosystem by ``id`` (made from the name when
the column is absent): cells that are filled replace the field, empty cells keep what the
YAML had, so importing never loses anything. A bad row is reported with its row number,
column and value; by default nothing is imported until every row is right.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from edtech_map.inventory import loads_ecosystem
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "tools.csv").write_text(
...     "Tool Name,Vendor,Category,Grade Levels,Subjects,Seats,DPA Status,DPA Signed\\n"
...     "Mathly,Mathly Inc,Adaptive Practice,3-5,Math,500,signed,2025-07-01\\n")
>>> eco = loads_ecosystem("district: {id: d1, name: Demo}\\n")
>>> merged, report = import_spreadsheet(folder / "tools.csv", eco)
>>> tool = merged.tool("mathly")
>>> tool.category.value, [g.label for g in tool.grades], tool.licence.seats
('adaptive_practice', ['3', '4', '5'], 500)
>>> report.added, report.updated
(['mathly'], [])
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from pydantic import ValidationError

from edtech_map.errors import InventoryError, Problem
from edtech_map.inventory import describe_error
from edtech_map.model import Ecosystem, Tool, reference_problems

__all__ = ["COLUMN_ALIASES", "FIELD_COLUMNS", "ImportReport", "import_spreadsheet", "read_rows"]

log = logging.getLogger(__name__)

#: Spreadsheet column -> tool field path (dotted for nested fields).
FIELD_COLUMNS: Mapping[str, str] = {
    "id": "id",
    "name": "name",
    "vendor": "vendor",
    "category": "category",
    "status": "status",
    "audience": "audience",
    "learning_tasks": "learning_tasks",
    "subjects": "subjects",
    "grades": "grades",
    "schools": "schools",
    "seats": "licence.seats",
    "licence_unit": "licence.unit",
    "cost": "licence.cost",
    "licence_period": "licence.period",
    "renewal_date": "licence.renewal_date",
    "funding": "licence.funding",
    "dpa_status": "privacy.status",
    "dpa_signed": "privacy.signed",
    "dpa_expires": "privacy.expires",
    "data_elements": "privacy.data_elements",
    "rostering": "rostering",
    "rostered_by": "rostered_by",
    "sso": "sso",
    "sso_via": "sso_via",
    "domains": "identifiers.domains",
    "aliases": "identifiers.aliases",
    "owner": "owner",
    "website": "website",
    "notes": "notes",
}

#: Other spellings seen in district spreadsheets, after lower-casing and ``_`` for spaces.
COLUMN_ALIASES: Mapping[str, str] = {
    "tool": "name",
    "tool_name": "name",
    "app": "name",
    "app_name": "name",
    "application": "name",
    "product": "name",
    "product_name": "name",
    "company": "vendor",
    "publisher": "vendor",
    "vendor_name": "vendor",
    "type": "category",
    "tool_type": "category",
    "users": "audience",
    "intended_users": "audience",
    "tasks": "learning_tasks",
    "learning_task": "learning_tasks",
    "purpose": "learning_tasks",
    "subject": "subjects",
    "subject_area": "subjects",
    "subject_areas": "subjects",
    "grade": "grades",
    "grade_levels": "grades",
    "grade_level": "grades",
    "grade_band": "grades",
    "school": "schools",
    "sites": "schools",
    "licenses": "seats",
    "licences": "seats",
    "license_count": "seats",
    "licence_count": "seats",
    "license_unit": "licence_unit",
    "annual_cost": "cost",
    "price": "cost",
    "renewal": "renewal_date",
    "contract_end": "renewal_date",
    "contract_end_date": "renewal_date",
    "dpa": "dpa_status",
    "privacy_status": "dpa_status",
    "privacy_agreement": "dpa_status",
    "dpa_signed_date": "dpa_signed",
    "dpa_expiration": "dpa_expires",
    "dpa_expiry": "dpa_expires",
    "dpa_expires_on": "dpa_expires",
    "data_shared": "data_elements",
    "domain": "domains",
    "url": "website",
    "sign_in": "sso",
    "login": "sso",
    "rostering_method": "rostering",
    "contact": "owner",
    "comments": "notes",
}

_LIST_FIELDS = {
    "audience",
    "learning_tasks",
    "subjects",
    "schools",
    "privacy.data_elements",
    "identifiers.domains",
    "identifiers.aliases",
}
_ENUM_FIELDS = {
    "category",
    "status",
    "audience",
    "learning_tasks",
    "subjects",
    "licence.unit",
    "licence.period",
    "privacy.status",
    "privacy.data_elements",
    "rostering",
    "sso",
}


@dataclass
class ImportReport:
    """What an import did: tools added, updated, unchanged, and rows or columns passed over.

    Examples
    --------
    >>> ImportReport(Path("apps.csv"), rows_read=2, added=["mathly"]).added
    ['mathly']
    """

    source: Path
    rows_read: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people.

        Examples
        --------
        >>> ImportReport(Path("t.csv"), rows_read=3, added=["a"], updated=["b"]).summary()
        't.csv: read 3 rows: 1 added, 1 updated, 0 unchanged, 0 skipped'
        """
        return (
            f"{self.source}: read {self.rows_read} rows: {len(self.added)} added, "
            f"{len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.skipped)} skipped"
        )


def _normalise_header(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def read_rows(path: Path, *, sheet: str | None = None) -> Iterator[tuple[int, list[str | None]]]:
    """Yield ``(row number, cells)`` from a CSV or XLSX file, the header row first.

    Row numbers are what a spreadsheet program shows (the header is row 1).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("Name,Seats\\nMathly, 30\\n")
    >>> list(read_rows(path))
    [(1, ['Name', 'Seats']), (2, ['Mathly', '30'])]
    """
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            if sheet is not None and sheet not in workbook.sheetnames:
                raise InventoryError(
                    [
                        Problem(
                            (),
                            sheet,
                            f"no sheet named {sheet!r}; sheets: {', '.join(workbook.sheetnames)}",
                        )
                    ],
                    path=path,
                )
            worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
            for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
                yield number, [_cell_text(v) for v in values]
        finally:
            workbook.close()
    elif suffix in {".csv", ".txt", ".tsv"}:
        row = 1
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                sample = handle.read(4096)
                handle.seek(0)
                try:
                    dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
                        sample, delimiters=",;\t"
                    )
                except csv.Error:
                    dialect = csv.excel
                reader = csv.reader(handle, dialect)
                for cells in reader:
                    row = reader.line_num
                    yield reader.line_num, [_cell_text(v) for v in cells]
        except (UnicodeDecodeError, csv.Error) as error:
            problem = (
                "not UTF-8 text at or after this row; save it as CSV UTF-8"
                if isinstance(error, UnicodeDecodeError)
                else f"not readable as CSV ({error})"
            )
            raise InventoryError([Problem((), None, problem, line=row)], path=path) from None
    else:
        raise InventoryError(
            [Problem((), suffix, "not a spreadsheet; export it as .csv or .xlsx")], path=path
        )


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,;\n]", text) if part.strip()]


def _enum_text(text: str) -> str:
    return re.sub(r"[\s-]+", "_", text.strip().lower())


def _set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or "tool"


def _deep_update(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_update(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def import_spreadsheet(
    path: str | Path,
    ecosystem: Ecosystem,
    *,
    sheet: str | None = None,
    skip_invalid: bool = False,
) -> tuple[Ecosystem, ImportReport]:
    """Merge the tools of a spreadsheet into ``ecosystem``; return the result and a report.

    Parameters
    ----------
    path
        A ``.csv`` or ``.xlsx`` file, one tool per row, headers in row 1.
    ecosystem
        The inventory to merge into (returned unchanged when nothing is new).
    sheet
        The XLSX sheet to read (default: the first).
    skip_invalid
        Import the good rows and report the bad ones in ``report.skipped``; by default a bad
        row stops the import (:class:`InventoryError` listing every bad row).

    Examples
    --------
    >>> import tempfile
    >>> from edtech_map.inventory import loads_ecosystem
    >>> csv_path = Path(tempfile.mkdtemp()) / "tools.csv"
    >>> _ = csv_path.write_text("Name,Category,Grades\\nQuizzy,assessment,grade 13\\n")
    >>> eco = loads_ecosystem("district: {id: d1, name: Demo}\\n")
    >>> import_spreadsheet(csv_path, eco)
    Traceback (most recent call last):
    ...
    edtech_map.errors.InventoryError: .../tools.csv: 1 problem
      .../tools.csv:2:3 Grades: 'grade 13' is not a grade level; use K, 1..12, PK, TK, a CEDS code such as KG or 05, or a range such as K-5
    """
    source = Path(path)
    report = ImportReport(source=source)
    rows = read_rows(source, sheet=sheet)
    try:
        _, header_cells = next(rows)
    except StopIteration:
        raise InventoryError(
            [Problem((), None, "the spreadsheet is empty; put headers in row 1")], path=source
        ) from None
    headers = [cell or "" for cell in header_cells]
    columns: dict[int, str] = {}
    for index, header in enumerate(headers):
        key = _normalise_header(header)
        key = COLUMN_ALIASES.get(key, key)
        if key in FIELD_COLUMNS:
            columns[index] = FIELD_COLUMNS[key]
        elif header:
            report.ignored_columns.append(header)
    if "name" not in columns.values() and "id" not in columns.values():
        raise InventoryError(
            [
                Problem(
                    (),
                    ", ".join(headers),
                    "no column names the tool; add a `name` (or `Tool Name`) column",
                    line=1,
                )
            ],
            path=source,
        )
    by_column = {dotted: index for index, dotted in columns.items()}
    existing = {tool.id: tool for tool in ecosystem.tools}
    updates: dict[str, dict[str, Any]] = {}
    row_of: dict[str, int] = {}
    problems: list[Problem] = []
    for number, cells in rows:
        if not any(cells):
            continue
        report.rows_read += 1
        row: dict[str, Any] = {}
        for index, dotted in columns.items():
            text = cells[index] if index < len(cells) else None
            if text is None:
                continue
            value: Any = _split(text) if dotted in _LIST_FIELDS else text
            if dotted in _ENUM_FIELDS:
                value = (
                    [_enum_text(v) for v in value] if isinstance(value, list) else _enum_text(value)
                )
            if dotted == "schools" and value in (["all"], ["All"]):
                value = "all"
            _set_path(row, dotted, value)
        tool_id = row.get("id") or _slug(str(row.get("name", "")))
        row["id"] = tool_id
        candidate = row
        if tool_id in existing:
            candidate = _deep_update(existing[tool_id].model_dump(exclude_unset=True), row)
        elif "name" not in row:
            problems.append(
                Problem((), tool_id, "a new tool needs a name", line=number, column=None)
            )
            continue
        try:
            tool = Tool.model_validate(candidate)
        except ValidationError as error:
            for detail in error.errors(include_url=False):
                dotted = ".".join(str(p) for p in detail["loc"] if isinstance(p, str))
                column = next((i for d, i in by_column.items() if dotted.startswith(d)), None)
                header = headers[column] if column is not None else dotted or "row"
                value_text = detail.get("input")
                if detail["type"] == "missing":
                    message = f"required field `{dotted}` is missing; add a column for it"
                else:
                    message = describe_error(detail, tuple(dotted.split(".")))
                problems.append(
                    Problem(
                        (header,),
                        value_text,
                        message,
                        line=number,
                        column=column + 1 if column is not None else None,
                    )
                )
            continue
        if tool_id in updates:
            problems.append(
                Problem(
                    ("id",),
                    tool_id,
                    f"the tool {tool_id!r} is also in row {row_of[tool_id]}; keep one row per tool",
                    line=number,
                )
            )
            continue
        updates[tool_id] = tool.model_dump(exclude_unset=True)
        row_of[tool_id] = number
    merged_tools: list[dict[str, Any]] = []
    for tool in ecosystem.tools:
        if tool.id in updates:
            new = updates.pop(tool.id)
            if new == tool.model_dump(exclude_unset=True):
                report.unchanged.append(tool.id)
            else:
                report.updated.append(tool.id)
            merged_tools.append(new)
        else:
            merged_tools.append(tool.model_dump(exclude_unset=True))
    for tool_id, new in updates.items():
        report.added.append(tool_id)
        merged_tools.append(new)
    data = {**ecosystem.model_dump(exclude_unset=True), "tools": merged_tools}
    tool_rows = [row_of.get(str(t.get("id"))) for t in merged_tools]
    for problem in reference_problems(data):
        loc = problem.loc
        if loc[:1] == ("tools",) and isinstance(loc[1], int) and tool_rows[loc[1]]:
            header_index = by_column.get(str(loc[2])) if len(loc) > 2 else None
            problems.append(
                Problem(
                    (headers[header_index],) if header_index is not None else loc[2:],
                    problem.value,
                    problem.message,
                    line=tool_rows[loc[1]],
                    column=header_index + 1 if header_index is not None else None,
                )
            )
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        if not skip_invalid:
            raise InventoryError(problems, path=source)
        report.skipped.extend(problems)
        bad_rows = {p.line for p in problems}
        kept: list[dict[str, Any]] = []
        for tool_data, row_number in zip(merged_tools, tool_rows, strict=True):
            tool_id = str(tool_data["id"])
            if row_number not in bad_rows:
                kept.append(tool_data)
                continue
            for bucket in (report.added, report.updated, report.unchanged):
                if tool_id in bucket:
                    bucket.remove(tool_id)
            if tool_id in existing:  # a bad row never costs the YAML its tool
                kept.append(existing[tool_id].model_dump(exclude_unset=True))
        data["tools"] = kept
    for problem in report.skipped:
        log.warning("skipped %s", problem.render(source))
    merged = Ecosystem.model_validate(data)
    log.info("%s", report.summary())
    return merged, report


def column_reference() -> Sequence[tuple[str, str, list[str]]]:
    """Rows of (column, field, other accepted spellings) for the docs.

    Examples
    --------
    >>> ("seats", "licence.seats") in [(c, f) for c, f, _ in column_reference()]
    True
    """
    aliases: dict[str, list[str]] = {}
    for alias, column in COLUMN_ALIASES.items():
        aliases.setdefault(column, []).append(alias)
    return [(column, dotted, aliases.get(column, [])) for column, dotted in FIELD_COLUMNS.items()]
