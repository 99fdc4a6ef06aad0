"""Evaluation: data sets (`datasets`), metrics (`metrics`), reports, tables, plots and CSV (`report`), the
evaluation commands (`run`) and the answer evaluation (`answers`).

The names most used are re-exported here; `run` and `answers` are imported where needed.
"""

from .datasets import Claim, Question, load_beir, load_claims, load_questions, read_jsonl, text_field, write_beir_corpus
from .metrics import (
    RetrieverReport,
    evaluate,
    evaluate_attribution,
    mrr_at,
    ndcg_at,
    percentile,
    recall_at,
    refusal_rates,
)
from .report import format_table, plot_recall, report_json

__all__ = [
    "Claim",
    "Question",
    "RetrieverReport",
    "evaluate",
    "evaluate_attribution",
    "format_table",
    "load_beir",
    "load_claims",
    "load_questions",
    "mrr_at",
    "ndcg_at",
    "percentile",
    "plot_recall",
    "read_jsonl",
    "recall_at",
    "refusal_rates",
    "report_json",
    "text_field",
    "write_beir_corpus",
]
