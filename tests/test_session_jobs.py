"""Jobs with a kind and a state in a queue whose signals carry the job (app/session/jobs.py)."""

import pytest

from app.session.jobs import JobKind, JobQueue, JobRecord, JobState


def _recorder(queue: JobQueue) -> list[tuple[str, int, JobState]]:
    seen: list[tuple[str, int, JobState]] = []
    for name in ("added", "started", "finished", "failed", "cancelled"):
        getattr(queue, name).connect(
            lambda job, name=name: seen.append((name, job.id, job.state)))
    return seen


def test_a_job_goes_from_queued_to_finished_and_the_signals_carry_it():
    queue = JobQueue()
    seen = _recorder(queue)
    carried: list[JobRecord] = []
    queue.finished.connect(carried.append)
    job = queue.add("user", {"mode": "sample"})
    assert job.kind is JobKind.USER and job.state is JobState.QUEUED
    assert queue.next_queued() is job and queue.is_busy()
    queue.start(job)
    assert queue.running() is job and queue.next_queued() is None
    queue.finish(job, "pixels")
    assert carried == [job] and carried[0].result == "pixels"
    assert seen == [("added", 1, JobState.QUEUED), ("started", 1, JobState.RUNNING),
                    ("finished", 1, JobState.FINISHED)]
    assert not queue.is_busy()


def test_ids_are_unique_and_jobs_are_found_by_state_and_kind():
    queue = JobQueue()
    a, b, c = (queue.add(kind, None) for kind in (JobKind.USER, JobKind.SWEEP, JobKind.SWEEP))
    assert [a.id, b.id, c.id] == [1, 2, 3] and queue.find(2) is b and queue.find(9) is None
    assert queue.jobs(kind=JobKind.SWEEP) == [b, c]
    queue.start(a)
    queue.fail(a, "out of memory")
    assert a.error == "out of memory" and queue.jobs(JobState.FAILED) == [a]
    assert queue.forget_done() == 1 and queue.jobs() == [b, c]
    assert queue.add("live", None).id == 4  # an id is never reused


def test_a_new_live_run_makes_the_queued_ones_stale():
    queue = JobQueue()
    seen = _recorder(queue)
    user = queue.add(JobKind.USER, None)
    old = [queue.add(JobKind.LIVE, n) for n in range(3)]
    assert queue.cancel_queued(JobKind.LIVE) == old
    newest = queue.add(JobKind.LIVE, 3)
    assert [j.state for j in old] == [JobState.CANCELLED] * 3
    assert user.state is JobState.QUEUED and newest.state is JobState.QUEUED
    assert [s for s in seen if s[0] == "cancelled"] == [
        ("cancelled", j.id, JobState.CANCELLED) for j in old]


def test_moves_that_make_no_sense_are_refused():
    queue = JobQueue()
    a, b = queue.add("user", None), queue.add("upscale", None)
    with pytest.raises(ValueError, match="queued: it cannot become finished"):
        queue.finish(a)
    queue.start(a)
    with pytest.raises(ValueError, match="job 1 is still running"):
        queue.start(b)
    queue.cancel(a)  # a running job can be cancelled ...
    assert a.state is JobState.CANCELLED
    with pytest.raises(ValueError, match="cancelled: it cannot become finished"):
        queue.finish(a)  # ... and its late result is not taken
    queue.cancel(a)  # cancelling a done job changes nothing
    assert a.state is JobState.CANCELLED
    stranger = JobQueue().add("user", None)
    with pytest.raises(ValueError, match="not in this queue"):
        queue.start(stranger)
    with pytest.raises(ValueError):
        queue.add("batch", None)
