"""The app's state without widgets (QtCore only; tests/test_layering.py enforces it).

properties: observable values on a QObject and `bind` helpers for widgets; modes: the one table
of the modes; settings: the run settings as properties (the mode so far); jobs: a job's kind and
state, and the queue whose signals carry the job.
"""
