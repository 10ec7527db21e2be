"""The app's state without widgets (QtCore only; tests/test_layering.py enforces it).

properties: observable values on a QObject and `bind` helpers for widgets; modes: the one table
of the modes; settings: the run settings as properties, bound to the modes panel (the seed is
drawn when a job is made); model_state: the loaded model as a frozen record, and the slot that
loads and reloads it with rollback; jobs: a job's kind and state, and the queue whose signals
carry the job; runner: every run from settings to results through one queue, routed by kind,
and Live mode (debounce, cancel-stale); suggested: the anagrams measured to work on each model,
offered in one click; asker: the questions the session asks (a seam: dialogs in the app, a
fake in tests); session: the document, history, run settings, model, jobs, the result shown,
the project, dirty state and title, with open/save/paste/recover/export/close
(docs/architecture.md); worker: the one worker pattern for the panels' threads (a generator's
yield is its report and cancel point; newest request only).
"""
