"""Group a deployment's captures into monitoring sessions (the regroup engine).

- rules: the grouping rules, pure (drawing sessions from sorted timestamps, the gap);
- plan: which timestamps to read and redraw (everything, or the windows around what
  changed), matching drawn sessions to existing ones, what to write;
- apply: the writes, in chunks that are each one transaction, with progress and stop;
- relink: occurrences follow their earliest detection's capture;
- sql: what each database needs beyond the ORM;
- regroup: the entry point, under the deployment's lock; full or incremental.
"""

from .apply import RegroupMode, RegroupSummary
from .plan import ungrouped_captures
from .regroup import RegroupError, regroup_deployment
from .relink import relink_occurrences
from .rules import (
    MAX_SESSION_LENGTH,
    RULES_VERSION,
    Drawing,
    DrawnSession,
    draw_sessions,
    session_gap,
)

__all__ = [
    "MAX_SESSION_LENGTH",
    "Drawing",
    "DrawnSession",
    "RULES_VERSION",
    "RegroupError",
    "RegroupMode",
    "RegroupSummary",
    "draw_sessions",
    "regroup_deployment",
    "relink_occurrences",
    "session_gap",
    "ungrouped_captures",
]
