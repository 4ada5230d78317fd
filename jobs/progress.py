"""The shape of a job's progress: its stages, each with done/total, named statistics and
time left, as stored in the job's `progress` column and read back by the pages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.translation import ngettext

from .status import JobStatus

# The units stages count in, as a number of them reads: "1 of 1 deployment", "3 of 40 rows".
UNIT_NAMES: dict[str, Callable[[int], str]] = {
    "captures": lambda count: ngettext("capture", "captures", count),
    "rows": lambda count: ngettext("row", "rows", count),
    "deployments": lambda count: ngettext("deployment", "deployments", count),
    "items": lambda count: ngettext("item", "items", count),
}


@dataclass
class StageProgress:
    key: str
    name: str
    unit: str = "items"
    status: str = JobStatus.CREATED
    done: int = 0
    # Unknown until the work has counted what it has to do.
    total: int | None = None
    eta_seconds: int | None = None
    # Keys are labels for people ("Sessions created").
    stats: dict[str, int | str] = field(default_factory=dict)
    # The child job doing this stage, for a parent job (Regroup all).
    job_id: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageProgress:
        """Read a stored stage; a key missing from an older row takes its default."""
        return cls(
            key=data.get("key") or "",
            name=data.get("name") or "",
            unit=data.get("unit") or "items",
            status=data.get("status") or JobStatus.CREATED,
            done=data.get("done") or 0,
            total=data.get("total"),
            eta_seconds=data.get("eta_seconds"),
            stats=dict(data.get("stats") or {}),
            job_id=data.get("job_id"),
        )

    @property
    def done_of_total(self) -> str:
        """How far it got, for people: "1,200 of 4,800 captures", "1 of 1 deployment"."""
        name = UNIT_NAMES.get(self.unit)
        unit = name(self.total or 0) if name else self.unit
        return f"{intcomma(self.done)} of {intcomma(self.total)} {unit}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobProgress:
    stages: list[StageProgress] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> JobProgress:
        """Read a job's `progress` column; an empty one (no worker has reported) has no
        stages."""
        return cls([StageProgress.from_json(stage) for stage in (data or {}).get("stages") or []])

    @property
    def done_of_total(self) -> str:
        """How far it got, for people: "1,200 of 4,800 captures", "1 of 1 deployment"."""
        name = UNIT_NAMES.get(self.unit)
        unit = name(self.total or 0) if name else self.unit
        return f"{intcomma(self.done)} of {intcomma(self.total)} {unit}"

    def as_json(self) -> dict[str, Any]:
        return {"stages": [stage.as_json() for stage in self.stages]}
