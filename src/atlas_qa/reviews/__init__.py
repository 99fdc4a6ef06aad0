"""Instructor-reviewed answers: `match` decides whether a question asks the same thing as a reviewed one."""
