"""The job handle a user holds: status, answer, usage, and ways to wait, cancel or resume.

State changes happen on the poller's loop thread; readers on the kernel thread see plain
attributes. ``result()`` waits on a ``concurrent.futures.Future`` (never a nested event loop:
see the README's "Why no nest-asyncio").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any, Protocol

from xai_defer_magic.core.answer import Answer
from xai_defer_magic.core.catalogue import Catalogue
from xai_defer_magic.core.completion import Completion
from xai_defer_magic.core.failures import log_once
from xai_defer_magic.core.images import PromptImage, images_in
from xai_defer_magic.core.pricing import Cost, completion_cost
from xai_defer_magic.core.structured import parse_job
from xai_defer_magic.errors import (
    GrokDeferError,
    JobCancelled,
    JobExpired,
    JobTimeout,
)

PENDING_STATUSES = ("submitting", "pending")
FINISHED_STATUSES = ("done", "failed", "expired", "timed_out", "cancelled")
QUEUED = "queued"  # a thread turn waiting for the answer it follows (never journaled as a job)
UNFINISHED_STATUSES = (QUEUED, *PENDING_STATUSES)  # not finished, whether sent or not yet
LOCAL_PREFIX = "local+"  # '+' is outside a server id's safe set: the two never collide


def is_local_id(key: str) -> bool:
    """True for the journal key of a job the server has not given an id yet."""
    return key.startswith(LOCAL_PREFIX)


class JobController(Protocol):
    """What a handle's ``cancel()`` and ``resume()`` go to (an engine, or the process's
    dispatcher that finds the current engine after ``%reload_ext``)."""

    def cancel(self, job: Job) -> None: ...
    def resume(self, job: Job) -> None: ...


Listener = Callable[["Job"], None]


class Job:
    """A deferred chat completion: created when submitted, finished when its result is shown.

    Its fields are read by anyone and changed only through its methods, each named for what
    happened (``accepted``, ``polling``, ``polled``, ``finish``, ``set_status``...).
    """

    def __init__(
        self,
        *,
        model: str,
        request: dict[str, Any],
        base_url: str,
        created_at: float | None = None,
        timeout: float | None = None,
        cell_id: str | None = None,
        key: str | None = None,
        engine: str = "deferred",
        estimated_cost_usd: float | None = None,
        polls: int = 0,
        last_poll_at: float | None = None,
    ) -> None:
        # ``key``: the journal key of a job read back, its request id or (never sent) local id.
        self.request_id: str | None = None if key is None or is_local_id(key) else key
        # Journal key until the server gives the id: the intent row written before the POST.
        self.local_id = key if key and is_local_id(key) else f"{LOCAL_PREFIX}{uuid.uuid4().hex}"
        self.engine = engine  # which engine runs it (the runtime's engines by name)
        self.model = model
        self.request = request
        self.base_url = base_url
        self.created_at = time.time() if created_at is None else created_at
        self.timeout = timeout
        self.cell_id = cell_id
        self.status = "submitting"
        self.polls = polls
        self.last_poll_at = last_poll_at
        self.finished_at: float | None = None
        self.completion: Completion | None = None
        self.error: str | None = None
        self.note: str | None = None  # transient detail shown beside the status ("retrying…")
        self.exception: GrokDeferError | None = None
        # The catalogue that prices an answer without cost_in_usd_ticks, once the runtime
        # has it (see prices_arrived): reading the cost never goes to the network.
        self.catalogue: Catalogue | None = None
        self.poll_started = time.monotonic()
        self.estimated_cost_usd = estimated_cost_usd  # the pre-send estimate, when one was made
        self.reused_from: Any = None  # reuse.ReusedFrom when the answer came from the journal
        self.schema: Any = None  # structured.Schema of a --schema job (else read from request)
        self.template_names: tuple[str, ...] = ()  # the {names} filled into the prompt
        self.thread: tuple[str, int] | None = None  # (thread name, turn number) of a --thread
        self.thread_note: str | None = None
        self.images: tuple[PromptImage, ...] = images_in(request)  # see sent_images
        self._controller: JobController | None = None
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._finished: concurrent.futures.Future[None] = concurrent.futures.Future()

    # --- what users read -------------------------------------------------------------------

    @property
    def content(self) -> str | None:
        return self.completion.content if self.completion else None

    @property
    def reasoning_content(self) -> str | None:
        return self.completion.reasoning_content if self.completion else None

    @property
    def response(self) -> dict[str, Any] | None:
        return self.completion.raw if self.completion else None

    @property
    def usage(self) -> dict[str, Any] | None:
        raw = self.response or {}
        usage = raw.get("usage")
        return usage if isinstance(usage, dict) else None

    @property
    def served_model(self) -> str | None:
        """The model that answered (for a retired slug such as grok-4: grok-4.3)."""
        return self.completion.model if self.completion else None

    @property
    def cost_usd(self) -> float | None:
        """The billed cost, or one estimated from catalogue prices (see ``cost_estimated``);
        None until known (prices the runtime is still fetching arrive by themselves)."""
        return self._cost().usd

    @property
    def cost_estimated(self) -> bool:
        """True when the body had no ``cost_in_usd_ticks`` and ``cost_usd`` is computed."""
        return self._cost().estimated

    def _cost(self) -> Cost:
        if self.completion is None:
            return Cost(None)
        return completion_cost(self.completion, self.model, self.catalogue)

    def wants_catalogue(self) -> bool:
        """True for an answer the catalogue would tell more about: its price (no ticks in the
        body) or the model that served a retired name."""
        if self.completion is None or self.catalogue is not None:
            return False
        served = self.completion.model
        return self.completion.usage.cost_usd is None or bool(served and served != self.model)

    @property
    def prompt(self) -> str:
        """The last user message: what this job asked."""
        for message in reversed(self.request.get("messages") or []):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):  # text and image parts: the text is the prompt
                    return "\n".join(p["text"] for p in content if isinstance(p, dict)
                                     and isinstance(p.get("text"), str))
                return content if isinstance(content, str) else str(content)
        return ""

    @property
    def parsed(self) -> Any:
        """The answer validated against ``--schema`` (None without one, or if it did not fit)."""
        return parse_job(self)[0]

    @property
    def parse_error(self) -> str | None:
        """Why a ``--schema`` answer did not parse or validate (the raw text stays in content)."""
        return parse_job(self)[1]

    @property
    def done(self) -> bool:
        return self.status in FINISHED_STATUSES

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since submission, or the job's duration once finished."""
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        return max(0.0, end - self.created_at)

    def __repr__(self) -> str:
        rid = self.request_id or "…"
        extra = f" error={self.error!r}" if self.error else ""
        served = self.served_model
        model = f"{self.model} → {served}" if served and served != self.model else self.model
        return f"<Job {rid} {model} {self.status}{extra}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    # --- waiting ------------------------------------------------------------------------------

    def result(self, timeout: float | None = None) -> str:
        """Block until the job is finished; return the answer or raise why there is none."""
        future = self._finished
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise JobTimeout(
                f"Job {self.request_id} is still {self.status} after {timeout:g} s; "
                "it keeps polling (wait again, or use job.cancel())."
            ) from None
        return self._outcome()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is finished or ``timeout`` passes; True if it is finished."""
        try:
            self._finished.result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    def __await__(self) -> Generator[Any, None, str]:
        return self._wait_async().__await__()

    async def _wait_async(self) -> str:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def _wake(_: object) -> None:
            loop.call_soon_threadsafe(_resolve, waiter)

        self._finished.add_done_callback(_wake)
        await waiter
        return self._outcome()

    def _outcome(self) -> str:
        if self.status == "done":
            return Answer(self.content or "")
        if self.exception is not None:
            raise self.exception
        message = self.error or f"Job {self.request_id} ended as {self.status}."
        if self.status == "cancelled":
            raise JobCancelled(message)
        if self.status == "timed_out":
            raise JobTimeout(message)
        if self.status == "expired":
            raise JobExpired(message)
        raise GrokDeferError(message)

    # --- control ---------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop polling locally. The job keeps running at xAI; ``resume()`` picks it up again."""
        if self._controller is not None and not self.done:
            self._controller.cancel(self)

    def resume(self) -> None:
        """Poll again after a timeout, a cancel or a transient failure."""
        if self._controller is not None and self.status not in ("done", "expired"):
            self._controller.resume(self)

    # --- used by the poller and the cards ------------------------------------------------------

    def bind(self, controller: JobController | None) -> None:
        """Say what ``cancel()`` and ``resume()`` go to."""
        self._controller = controller

    def is_listening(self, listener: Listener) -> bool:
        return listener in self._listeners

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception as exc:  # a broken view must never stop the poller
                log_once("a job listener", exc)

    def filled_from(self, template_names: tuple[str, ...], schema: Any = None) -> None:
        """The prompt was a template filled with these names (and answers to ``schema``)."""
        self.template_names, self.schema = template_names, schema

    def in_thread(self, name: str, turn: int, note: str | None = None) -> None:
        """This job is turn ``turn`` of thread ``name`` (shown on its card, with ``note``:
        how full the model's context is, when that is worth saying)."""
        self.thread = (name, turn)
        self.thread_note = note or self.thread_note

    def queued_behind(self, note: str) -> None:
        """A thread turn that waits for its predecessor's answer before it is sent."""
        self.note = note
        self.set_status(QUEUED)

    def dispatched(self, request: dict[str, Any]) -> bool:
        """The queued turn's full body (history included) is fixed and goes to the engine;
        False (and nothing changes) when it is no longer queued: cancelled meanwhile, or
        already sent by another dispatcher of the same turn."""
        with self._lock:
            if self.status != QUEUED:
                return False
            self.status = "submitting"  # claimed: a second dispatcher now gets False
            self.request = request
            self.note = None
        self.set_status("submitting")
        return True

    def answered_like(self, twin: Job, origin: Any) -> None:
        """A queued turn whose body ``twin`` (journaled, done) already answered: its answer,
        reused (``reuse.ReusedFrom`` in ``origin``), instead of a request sent again."""
        self.request_id = twin.request_id
        self.reused_from = origin
        self.catalogue = self.catalogue or twin.catalogue
        if twin.completion is not None:
            self.finish(twin.completion, finished_at=twin.finished_at)
    def sent_images(self, images: tuple[PromptImage, ...]) -> None:
        """The images of its prompt as the user named them (with thumbnails, without bytes)."""
        self.images = images

    def run_by(self, engine: str) -> None:
        """Which of the runtime's engines runs this job from now on."""
        self.engine = engine

    def reused(self, origin: Any) -> None:
        """The answer came from the journal (``reuse.ReusedFrom``), not from a new request."""
        self.reused_from = origin

    def accepted(self, request_id: str) -> None:
        """The server took the request and gave it this id."""
        self.request_id = request_id

    def polling(self) -> None:
        """Following starts (again) now: the ``--timeout`` clock restarts, the note clears."""
        self.poll_started = time.monotonic()
        self.note = None
        self.set_status("pending")

    def polled(self, at: float) -> int:
        """One more GET of this job was answered; returns the count."""
        self.polls += 1
        self.last_poll_at = at
        return self.polls

    def noted(self, note: str | None) -> None:
        """A transient detail beside the status ("retrying…"), or None to clear it."""
        self.note = note
        self.notify()

    def prices_arrived(self, catalogue: Catalogue) -> None:
        """The catalogue the runtime fetched: an answer without ticks now has a cost."""
        if self.catalogue is None:
            self.catalogue = catalogue
            self.notify()

    def set_status(self, status: str, *, error: GrokDeferError | str | None = None,
                   finished_at: float | None = None) -> None:
        """``finished_at``: when a finished job read back from the journal ended."""
        with self._lock:
            self.status = status
            if isinstance(error, GrokDeferError):
                self.exception, self.error = error, error.message
            elif error is not None:
                self.exception, self.error = None, error
            if status in FINISHED_STATUSES:
                self.finished_at = self.finished_at or finished_at or time.time()
                self.note = None
                if not self._finished.done():
                    self._finished.set_result(None)
            else:
                self.finished_at = None
                self.exception = None
                self.error = None
                if self._finished.done():
                    self._finished = concurrent.futures.Future()
        self.notify()

    def finish(self, completion: Completion, finished_at: float | None = None) -> None:
        self.completion = completion
        self.set_status("done", finished_at=finished_at)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
