"""A group knows it is done from its items' notifications, not by re-checking every item.

Failing 10,001 refused batch items used to notify the group once per item, and each
notification re-read every item (quadratic: about 20 s of CPU). These pin what the tally must
keep right: items finishing in any order, an item resumed after it ended, items already finished
when the group is built.
"""

from __future__ import annotations

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import FINISHED_STATUSES, Job

BASE = "http://127.0.0.1:9/v1"


def make_group(jobs: list[Job]) -> Group:
    return Group("g-test", jobs, labels=list(range(len(jobs))), values=[None] * len(jobs),
                 columns=[], template="{item}", model="grok-4.3")


def test_done_follows_items_finishing_in_any_order_and_resumed() -> None:
    jobs = [Job(model="grok-4.3", request={}, base_url=BASE) for _ in range(3)]
    group = make_group(jobs)
    assert not group.done
    jobs[2].set_status("failed", error="refused")
    jobs[0].set_status("cancelled", error="stopped")
    assert not group.done and group.ended_at is None
    jobs[1].set_status("expired", error="gone")
    assert group.done and group.ended_at is not None
    jobs[0].set_status("pending")  # resumed: the group is live again
    assert not group.done and group.ended_at is None
    jobs[0].set_status("done")
    assert group.done


def test_items_already_finished_count_when_the_group_is_built() -> None:
    jobs = [Job(model="grok-4.3", request={}, base_url=BASE) for _ in range(2)]
    for job in jobs:
        job.set_status("failed", error="refused")
    assert make_group(jobs).done
    assert make_group([]).done


def test_many_items_each_read_a_bounded_number_of_times() -> None:
    """Counted, not timed: finishing n items reads item statuses O(n) times, not O(n^2)."""
    reads = 0

    class CountingJob(Job):
        @property
        def done(self) -> bool:
            nonlocal reads
            reads += 1
            return self.status in FINISHED_STATUSES

    jobs = [CountingJob(model="grok-4.3", request={}, base_url=BASE) for _ in range(2000)]
    group = make_group(jobs)
    reads = 0
    for job in jobs:
        job.set_status("failed", error="refused")
    assert group.done
    assert reads <= 4 * len(jobs), reads
