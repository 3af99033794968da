"""Reproducible performance runs of lms-outcomes (``make bench``); not tests."""
