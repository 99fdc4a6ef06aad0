"""Instructor insight: the question log (`log.py`, counted by `stats.py`) and what it tells (`report.py`).

Getting the log: `QuestionLog.open(settings, atlas)`; the web app holds one (`Courses.log` in api.py), and the UI's
`Views` reach it as `views.feedback.log` (course: `views.feedback.course`). Logging:
`log.record(course, user_name, answer, question, follow_up=...)` returns the record id at once (written in the
background); `log.rate(course, id, helpful, comment)` rates it; `log.flush()` waits for pending writes, `log.close()`
on shutdown. Insight: `build_insights(atlas, log, course, since, until)` -> `Insights` (ISO dates, both days included;
`AtlasError` for a bad date); `insights_json(ins)` is what `GET /api/v1/insights` returns and `insight_tables(ins)`
the same numbers as tables. Pseudonyms: `student_label(pseudonym)` -> "student 7f3a"; an admin's `log_show_names`:
`requests.user_names(log, settings)` maps pseudonyms to names. Storage and privacy: docs/insight-storage.md.
"""

from .entry import LogEntry
from .log import QuestionLog
from .pseudonyms import pseudonym, student_label
from .report import (
    CitedWork,
    Confusion,
    Gap,
    Insights,
    PageAsked,
    PageRef,
    build_insights,
    insight_tables,
    insights_json,
)

__all__ = [
    "CitedWork",
    "Confusion",
    "Gap",
    "Insights",
    "LogEntry",
    "PageAsked",
    "PageRef",
    "QuestionLog",
    "build_insights",
    "insight_tables",
    "insights_json",
    "pseudonym",
    "student_label",
]
