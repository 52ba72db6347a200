"""xAI's deferred chat completions: submit (``POST``), then fetch-once (``GET``) by request id.

The wire behaviour follows DESIGN §2 to the letter: ``{"request_id"}`` on a deferred POST,
``202`` with an empty body while pending, the ``200`` body exactly once, then ``404`` (also once
the result outlived the TTL). A POST without ``deferred`` answers at once, as xAI does.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any

from . import answers, structured
from .replies import (
    NO_DEFERRED,
    NOT_FOUND,
    Outcome,
    Reply,
    bad_json,
    error_reply,
    fail_directive_reply,
    json_reply,
    loads_or_none,
    unprocessable,
)
from .request_checks import check_request_shape, check_semantics
from .state import EmulatorState

CHAT_PATH = "/v1/chat/completions"
DEFERRED_PREFIX = "/v1/chat/deferred-completion/"


@dataclass
class Job:
    request_id: str
    created: float  # emulated clock
    ready_at: float  # emulated clock
    body: dict[str, Any] | None
    delivered: bool = False
    expired: bool = False


@dataclass
class IdCount:
    """What the fetch-once guarantee is measured by: GETs, 200s, and GETs after the 200."""

    gets: int = 0
    delivered: int = 0
    gets_after_delivery: int = 0


class DeferredService:
    """Every deferred job of the emulated team, behind the shared state's lock, clock and knobs."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._lock = state.lock
        self._latency_rng = random.Random(state.seed)
        self._jobs: dict[str, Job] = {}
        self._ids: dict[str, IdCount] = {}

    # -- the two routes --

    def handle_post(self, auth: str | None, raw: bytes) -> Outcome:
        body = loads_or_none(raw)
        reply = self._state.screen("post", auth)
        if reply is not None:
            return Outcome(reply, body=body)
        reply, request_id = self._submit(raw, body)
        return Outcome(reply, request_id=request_id, body=body)

    def handle_get(self, request_id: str, auth: str | None) -> Outcome:
        self._note_get(request_id)
        reply = self._state.screen("get", auth) or self._poll(request_id)
        return Outcome(reply, request_id=request_id)

    # -- test controls and introspection --

    def complete(self, request_id: str) -> None:
        """Make a pending job ready now."""
        with self._lock:
            self._job(request_id).ready_at = -math.inf

    def expire(self, request_id: str) -> None:
        """Make a job behave as older than the TTL."""
        with self._lock:
            self._job(request_id).expired = True

    def job_ids(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def counts_for(self, request_id: str) -> IdCount:
        """A copy of this id's counts (zeros for an id never seen)."""
        with self._lock:
            return replace(self._ids.get(request_id, IdCount()))

    def all_counts(self) -> list[IdCount]:
        with self._lock:
            return [replace(c) for c in self._ids.values()]

    def id_counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {rid: asdict(c) for rid, c in self._ids.items()}

    def job_states(self) -> dict[str, int]:
        """How many jobs are pending, ready, delivered and expired, and in all."""
        with self._lock:
            now = self._state.now()
            states = {"pending": 0, "ready": 0, "delivered": 0, "expired": 0}
            for job in self._jobs.values():
                if job.delivered:
                    states["delivered"] += 1
                elif self._is_expired(job, now):
                    states["expired"] += 1
                elif now < job.ready_at:
                    states["pending"] += 1
                else:
                    states["ready"] += 1
            return {"total": len(self._jobs), **states}

    def clear_counts(self) -> None:
        with self._lock:
            self._ids.clear()

    def clear_jobs(self) -> None:
        with self._lock:
            self._jobs.clear()

    # -- internals --

    def _submit(self, raw: bytes, body: Any) -> tuple[Reply, str | None]:
        if body is None and raw.strip() != b"null":
            return bad_json(), None
        problem = check_request_shape(body)
        if problem:
            return unprocessable(problem), None
        resolution = check_semantics(body)
        if isinstance(resolution, Reply):
            return resolution, None
        directives = answers.parse_directives(answers.user_text(body["messages"]))
        faults = self._state.faults
        if directives.fail is not None:
            return fail_directive_reply(directives.fail, faults.retry_after), None
        request_id = faults.request_id or str(uuid.uuid4())
        completion = answers.build_completion(
            request_id,
            resolution,
            body["messages"],
            created=int(time.time()),
            max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
            reasoning_effort=body.get("reasoning_effort"),
        )
        completion = structured.apply(body, completion)  # response_format: json_schema
        if not body.get("deferred"):
            return json_reply(200, completion), request_id
        self._add_job(request_id, completion, directives.latency)
        return json_reply(200, {"request_id": request_id}), request_id

    def _add_job(self, request_id: str, completion: dict[str, Any], latency: float | None) -> None:
        with self._lock:
            if latency is None:
                latency = self._state.draw_latency(self._latency_rng)
            now = self._state.now()
            self._jobs[request_id] = Job(request_id, now, now + latency, completion)

    def _note_get(self, request_id: str) -> None:
        with self._lock:
            counts = self._ids.setdefault(request_id, IdCount())
            counts.gets += 1
            job = self._jobs.get(request_id)
            if job is not None and job.delivered:
                counts.gets_after_delivery += 1

    def _is_expired(self, job: Job, now: float) -> bool:
        return job.expired or now - job.created > self._state.ttl

    def _poll(self, request_id: str) -> Reply:
        with self._lock:
            job = self._jobs.get(request_id)
            now = self._state.now()
            if job is None or job.delivered or self._is_expired(job, now):
                return error_reply(404, NOT_FOUND, NO_DEFERRED)
            if now < job.ready_at:
                return Reply(202, content_type=None)
            body, job.body, job.delivered = job.body, None, True
            self._ids.setdefault(request_id, IdCount()).delivered += 1
            faults = self._state.faults
        reply = json_reply(200, body)
        reply.trickle_seconds = max(0.0, faults.deliver_seconds)
        reply.drop_midway = faults.lose_after_delivery
        return reply

    def _job(self, request_id: str) -> Job:
        try:
            return self._jobs[request_id]
        except KeyError:
            raise KeyError(f"unknown request id {request_id!r}") from None
