"""Instructor insight: the question log (`log.py`) and what it tells (`report.py`).

Getting the log: `QuestionLog.open(settings, atlas)` (one per process; the web app holds it: `Courses.log` in api.py,
passed to the UI's views); logging: `log.record(course, user_name, answer, question, follow_up=...)` returns the
record id, `log.rate(course, id, helpful, comment)` rates it; `log.flush()` waits for pending writes, `log.close()`
on shutdown. Insight: `build_insights(atlas, log, course, since, until)` -> `Insights`; `insights_json(ins)` is what
`GET /api/v1/insights` returns and `insight_tables(ins)` the same numbers as tables. Storage and privacy:
docs/insight-storage.md.
"""

from .log import LogEntry, QuestionLog, pseudonym, student_label
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
