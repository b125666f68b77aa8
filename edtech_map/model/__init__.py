"""The inventory model: pydantic v2 models and controlled vocabularies.

Examples
--------
>>> from edtech_map.model import Tool, ToolCategory
>>> Tool(id="canvas", name="Canvas", category=ToolCategory.LMS).category.value
'lms'
"""

from edtech_map.model.base import StrictModel
from edtech_map.model.district import District, School, SchoolDay
from edtech_map.model.ecosystem import (
    AuditConfig,
    Ecosystem,
    SourceConfig,
    Waiver,
    reference_problems,
)
from edtech_map.model.flow import DataFlow
from edtech_map.model.tool import Identifiers, Licence, PrivacyAgreement, RecommendedUse, Tool
from edtech_map.model.vocab import (
    Audience,
    DataElement,
    DpaStatus,
    FlowMechanism,
    GradeLevel,
    LearningTask,
    LicencePeriod,
    LicenceUnit,
    Role,
    RosteringMethod,
    SchoolType,
    SsoMethod,
    Subject,
    ToolCategory,
    ToolStatus,
    parse_grade,
    parse_grades,
)

__all__ = [
    "Audience",
    "AuditConfig",
    "DataElement",
    "DataFlow",
    "District",
    "DpaStatus",
    "Ecosystem",
    "FlowMechanism",
    "GradeLevel",
    "Identifiers",
    "LearningTask",
    "Licence",
    "LicencePeriod",
    "LicenceUnit",
    "PrivacyAgreement",
    "RecommendedUse",
    "Role",
    "RosteringMethod",
    "School",
    "SchoolDay",
    "SchoolType",
    "SourceConfig",
    "SsoMethod",
    "StrictModel",
    "Subject",
    "Tool",
    "ToolCategory",
    "ToolStatus",
    "Waiver",
    "parse_grade",
    "parse_grades",
    "reference_problems",
]
