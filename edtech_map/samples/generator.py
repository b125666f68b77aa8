"""Write a whole sample workspace: inventory, OneRoster roster, usage and the answer key.

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     manifest = generate_workspace(Path(tmp), size="m", scale=0.01, seed=3)
...     written = sorted(p.name for p in Path(tmp).iterdir())
>>> written
['ecosystem.yaml', 'manifest.json', 'roster', 'usage']
>>> manifest.size, manifest.counts.users > 0, manifest.counts.caliper_events > 0
('m', True, True)
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Literal

from ruamel.yaml import YAML

from edtech_map.samples.manifest import Counts, Uninventoried, WorkspaceManifest
from edtech_map.samples.plan import SIZES, DistrictPlan, grown_plan, riverside_plan
from edtech_map.samples.roster import DistrictRoster, SchoolRoster, write_oneroster_csv
from edtech_map.samples.usage import write_usage

__all__ = ["AS_OF", "FILES", "district_roster", "generate_workspace"]

logger = logging.getLogger(__name__)

AS_OF = date(2026, 11, 23)
"""The day the bundled sample is "as of": usage ends here and renewals count from here."""

FILES = {
    "ecosystem": "ecosystem.yaml",
    "roster": "roster",
    "roster_manifest": "roster/manifest.csv",
    "orgs": "roster/orgs.csv",
    "academic_sessions": "roster/academicSessions.csv",
    "courses": "roster/courses.csv",
    "classes": "roster/classes.csv",
    "users": "roster/users.csv",
    "enrollments": "roster/enrollments.csv",
    "caliper": "usage/caliper.jsonl",
    "usage_csv": "usage/usage.csv",
    "manifest": "manifest.json",
}
"""Every file a workspace holds, by name, relative to its folder."""


def district_roster(
    plan: DistrictPlan, *, seed: int, as_of: date = AS_OF, scale: float = 1.0
) -> DistrictRoster:
    """The roster arithmetic of a planned district, for the school year that holds ``as_of``.

    ``scale`` multiplies every school's enrolment (at least one student per grade).

    Examples
    --------
    >>> roster = district_roster(riverside_plan(), seed=7)
    >>> roster.year_id, roster.school("lincoln-es").org_id
    ('riverside-sy-2027', 'rv-org-101')
    """
    eco = plan.ecosystem
    year = as_of.year + 1 if as_of.month >= 7 else as_of.year
    host = (eco.district.website or f"https://www.{eco.district.id}.example").split("//")[-1]
    return DistrictRoster(
        district_id=eco.district.id,
        district_name=eco.district.name,
        org_id="rv-org-000",
        schools=tuple(SchoolRoster.from_school(school, scale=scale) for school in eco.schools),
        school_year=year,
        year_start=date(year - 1, 8, 24),
        year_end=date(year, 6, 4),
        email_domain=host.removeprefix("www.").strip("/"),
        seed=seed,
        state=eco.district.state or "",
    )


def _write_ecosystem(plan: DistrictPlan, path: Path) -> None:
    if plan.copied_text is not None:  # the bundled file, comments and all
        path.write_text(plan.copied_text, encoding="utf-8")
        return
    if plan.document is None:
        raise ValueError("a plan needs either the copied YAML text or a document to dump")
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)  # the bundled file's style
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(plan.document, handle)


def generate_workspace(
    out: Path,
    *,
    size: Literal["s", "m", "l"] = "s",
    seed: int = 7,
    as_of: date = AS_OF,
    scale: float = 1.0,
) -> WorkspaceManifest:
    """Write a complete sample workspace into ``out`` and return its manifest.

    Parameters
    ----------
    out
        Folder to write into (made when missing). Files already there are overwritten.
    size
        ``s``: the bundled Riverside Valley district (9 schools, 70 tools, about 4,400 users);
        ``m``: about 75 schools, 300 tools and 50,000 users; ``l``: about 1,500 schools,
        3,000 tools, a million users and ten million enrolments (streamed; takes a while).
    seed
        Same seed, same bytes. Another seed picks other people, times and generated tools.
    as_of
        The last day of usage; renewal and DPA dates in the sample are relative to
        2026-11-23.
    scale
        Multiplies generated schools, tools and every school's enrolment. For tests: a small
        scale runs the M or L code path in a moment.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     manifest = generate_workspace(Path(tmp), size="s", scale=0.05)
    >>> manifest.counts.tools, manifest.as_of.isoformat()
    (70, '2026-11-23')
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of s, m, l, not {size!r}")
    spec = SIZES[size]
    # At S the YAML is the bundled file as written, so `scale` only thins the roster; at M and
    # L the generated YAML carries the scaled enrolments itself.
    plan = riverside_plan() if size == "s" else grown_plan(size, seed=seed, scale=scale)
    out.mkdir(parents=True, exist_ok=True)
    (out / "usage").mkdir(exist_ok=True)
    logger.info("writing a size-%s workspace (seed %d) to %s", size, seed, out)

    _write_ecosystem(plan, out / FILES["ecosystem"])
    roster = district_roster(plan, seed=seed, as_of=as_of, scale=scale if size == "s" else 1.0)
    roster_counts = write_oneroster_csv(roster, out / FILES["roster"])
    usage = write_usage(
        plan,
        roster,
        out / FILES["caliper"],
        out / FILES["usage_csv"],
        seed=seed,
        as_of=as_of,
        intensity=spec.intensity,
        window_days=spec.window_days,
    )
    uninventoried = tuple(
        Uninventoried(
            identifier=shadow.identifier,
            kind=shadow.kind,
            name=shadow.name,
            students=usage.shadow_students.get(shadow.identifier, 0),
            teachers=usage.shadow_teachers.get(shadow.identifier, 0),
        )
        for shadow in plan.shadow_apps
    )
    eco = plan.ecosystem
    manifest = WorkspaceManifest(
        size=size,
        seed=seed,
        as_of=as_of,
        scale=scale,
        window_days=spec.window_days,
        counts=Counts(
            schools=len(eco.schools),
            tools=len(eco.tools),
            flows=len(eco.flows),
            orgs=roster_counts.orgs,
            academic_sessions=roster_counts.academic_sessions,
            courses=roster_counts.courses,
            classes=roster_counts.classes,
            users=roster_counts.users,
            students=roster_counts.students,
            teachers=roster_counts.teachers,
            administrators=roster_counts.administrators,
            enrollments=roster_counts.enrollments,
            caliper_events=usage.caliper_events,
            caliper_lines=usage.caliper_lines,
            csv_usage_rows=usage.csv_rows,
        ),
        files=dict(FILES),
        planted=plan.planted.model_copy(update={"uninventoried": uninventoried}),
        partial=() if size == "s" else ("gaps",),
        healthy=plan.healthy,
    )
    (out / FILES["manifest"]).write_text(manifest.model_dump_json(indent=2) + "\n", "utf-8")
    logger.info(
        "wrote %d users, %d enrollments, %d Caliper events",
        manifest.counts.users,
        manifest.counts.enrollments,
        manifest.counts.caliper_events,
    )
    return manifest
