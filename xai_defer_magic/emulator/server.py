"""xAI's two deferred endpoints, served over real HTTP on loopback, with injectable faults.

The client on the other side treats this as the real API, so the wire behaviour follows
DESIGN §2 to the letter: ``{"request_id"}`` on a deferred POST, ``202`` with an empty body while
pending, the ``200`` body exactly once, then ``404``; flat ``{"code", "error"}`` errors with
xAI's texts. Only the standard library is used, so it runs anywhere the package does (Binder,
CI, a laptop without a key).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import random
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import answers, catalogue, structured

CHAT_PATH = "/v1/chat/completions"
DEFERRED_PREFIX = "/v1/chat/deferred-completion/"
CATALOGUE_PATHS = ("/v1/language-models", "/v1/models", "/v1/tokenize-text")
ADMIN_PREFIX = "/_emulator/"
EMULATED_TEAM = "00000000-0000-4000-8000-00000000e4a1"
MAX_RECORDS = 200_000

# gRPC status descriptions, which xAI puts in the "code" field.
INVALID_ARGUMENT = "Client specified an invalid argument"
NOT_FOUND = "Some requested entity was not found"
RESOURCE_EXHAUSTED = "Some resource has been exhausted"
PERMISSION_DENIED = "The caller does not have permission to execute the specified operation"
UNAUTHENTICATED = "The request does not have valid authentication credentials"
INTERNAL = "Internal error"
UNAVAILABLE = "The service is currently unavailable"
GONE = "The requested resource is no longer available"

NO_ROUTE = (
    "No handler found on route. Please double check your URL and consult "
    "https://api.x.ai/docs for more information."
)
NO_DEFERRED = "No deferred completion could be found with the given request_id."
LIVE_SEARCH_GONE = (
    "Live search is deprecated. Please switch to the Agent Tools API: "
    "https://docs.x.ai/docs/guides/tools/overview"
)
BILLING_TAIL = (
    "has either used all available credits or reached its monthly spending limit. To continue "
    "making API requests, please purchase more credits or raise your spending limit."
)
BAD_GATEWAY_HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"
ROLES = ("system", "user", "assistant", "tool", "function")


# --- public data types ----------------------------------------------------------------------


@dataclass
class Faults:
    """Injectable faults, all off by default; fields may be changed while the server runs.

    The rate faults (5xx, drop, slow) strike before a request is handled, so the answer is
    still there for the next GET. The delivery faults strike after the server marked an id
    delivered, the loss that matters for a fetch-once result: ``deliver_seconds`` sends the
    200's body slowly (it trickles out over that many real seconds), ``lose_after_delivery``
    drops the connection halfway through the body (the answer is gone; the next GET is a
    404). ``request_id`` makes a deferred POST answer with that id instead of a fresh uuid.
    """

    error_5xx_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    burst_429_every: int = 0
    burst_429_length: int = 3
    retry_after: float | None = 1.0
    billing_exhausted: bool = False
    billing_status: int = 429
    faults_apply_to: str = "all"
    seed: int | None = None
    deliver_seconds: float = 0.0
    lose_after_delivery: bool = False
    request_id: str | None = None

    def validate(self) -> None:
        """Raise ValueError for settings that cannot work (used by the admin endpoint)."""
        for name in ("error_5xx_rate", "drop_rate", "slow_rate"):
            if not 0.0 <= _number(getattr(self, name), name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("slow_seconds", "deliver_seconds"):
            if _number(getattr(self, name), name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not isinstance(self.lose_after_delivery, bool):
            raise ValueError("lose_after_delivery must be true or false")
        if self.request_id is not None and (not isinstance(self.request_id, str)
                                            or not self.request_id):
            raise ValueError("request_id must be a non-empty string or null")
        for name in ("burst_429_every", "burst_429_length"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 0")
        if self.retry_after is not None and _number(self.retry_after, "retry_after") < 0:
            raise ValueError("retry_after must be >= 0 or null")
        if not isinstance(self.billing_exhausted, bool):
            raise ValueError("billing_exhausted must be true or false")
        if self.billing_status not in (429, 403):
            raise ValueError("billing_status must be 429 or 403")
        if self.faults_apply_to not in ("all", "get", "post"):
            raise ValueError("faults_apply_to must be 'all', 'get' or 'post'")
        seed = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an integer or null")


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the emulator saw it (never any header, so never the key)."""

    method: str
    path: str
    status: int  # 0 when the connection was dropped on purpose
    request_id: str | None
    t: float  # time.monotonic() when it was answered
    body: Any = None  # parsed JSON of a POST, if it was JSON


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    trickle_seconds: float = 0.0  # write the body slowly, over this many seconds
    drop_midway: bool = False  # close the connection after half the body


@dataclass
class _Outcome:
    reply: _Reply
    request_id: str | None = None
    body: Any = None
    record: bool = True


@dataclass
class _Job:
    request_id: str
    created: float  # emulated clock
    ready_at: float  # emulated clock
    body: dict[str, Any] | None
    delivered: bool = False
    expired: bool = False


@dataclass
class _IdCount:
    gets: int = 0
    delivered: int = 0
    gets_after_delivery: int = 0


class _Clock:
    """Emulated time: runs ``scale`` times faster than real time, continuous across changes."""

    def __init__(self, scale: float) -> None:
        self.scale = _positive(scale, "time_scale")
        self._real0 = time.monotonic()
        self._emu0 = 0.0

    def now(self) -> float:
        return self._emu0 + (time.monotonic() - self._real0) * self.scale

    def set_scale(self, scale: float) -> None:
        self._emu0, self._real0 = self.now(), time.monotonic()
        self.scale = _positive(scale, "time_scale")


# --- small helpers --------------------------------------------------------------------------


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _positive(value: Any, name: str) -> float:
    if _number(value, name) <= 0:
        raise ValueError(f"{name} must be > 0")
    return float(value)


def latency_range(value: Any) -> tuple[float, float]:
    """Normalise a latency (seconds, or a ``(low, high)`` pair) into a checked pair."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError("latency range must be [low, high]")
        low, high = _number(value[0], "latency"), _number(value[1], "latency")
    else:
        low = high = _number(value, "latency")
    if low < 0 or high < low:
        raise ValueError("latency must be >= 0 and low <= high")
    return low, high


def loopback_host(host: str) -> str:
    """The IPv4 loopback address to bind, or ValueError: the emulator never listens outside."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be a loopback address, not {host!r}") from None
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"host must be an IPv4 loopback address (127.x.x.x), not {host!r}")
    return host


def mask_key(key: str) -> str:
    """xAI's masking: first 2 and last 2 characters; never the whole of a short key."""
    return f"{key[:2]}***{key[-2:]}" if len(key) > 6 else "***"


def _json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Reply:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return _Reply(status, body, headers=headers or {})


def error_reply(status: int, code: str, message: str, **headers: str) -> _Reply:
    """xAI's flat error envelope ``{"code": <gRPC status text>, "error": <message>}``."""
    return _json_reply(status, {"code": code, "error": message}, headers)


def _billing_reply(status: int) -> _Reply:
    if status == 403:
        return error_reply(403, PERMISSION_DENIED, f"Your team {EMULATED_TEAM} {BILLING_TAIL}")
    return error_reply(429, RESOURCE_EXHAUSTED, f"Your team {BILLING_TAIL}")


def _rate_limit_reply(retry_after: float | None) -> _Reply:
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    message = (
        "Rate limit exceeded: too many requests for this team and model, please retry later "
        "(emulated)."
    )
    return _json_reply(429, {"code": RESOURCE_EXHAUSTED, "error": message}, headers)


def _server_error_reply(status: int, html: bool = False) -> _Reply:
    if status == 502 and html:
        return _Reply(502, BAD_GATEWAY_HTML.encode(), content_type="text/html; charset=utf-8")
    texts = {
        500: (INTERNAL, "Internal server error (emulated fault)."),
        502: (UNAVAILABLE, "Bad gateway: the upstream service did not answer (emulated fault)."),
        503: (UNAVAILABLE, "The service is temporarily unavailable (emulated fault)."),
    }
    code, message = texts.get(status, (INTERNAL, f"Server error {status} (emulated fault)."))
    return error_reply(status, code, message)


def _unauthorized() -> _Reply:
    return error_reply(
        401,
        UNAUTHENTICATED,
        "Request had invalid authentication credentials: missing or malformed Authorization "
        "header. Expected 'Authorization: Bearer <API key>'.",
    )


def _fail_directive_reply(status: int, retry_after: float | None) -> _Reply:
    """The answer a ``[[fail=CODE]]`` directive asks for."""
    if status == 429:
        return _rate_limit_reply(retry_after)
    if status == 403:
        return _billing_reply(403)
    if status == 401:
        return _unauthorized()
    if status == 410:
        return error_reply(410, GONE, LIVE_SEARCH_GONE)
    if status >= 500:
        return _server_error_reply(status)
    if not 400 <= status < 600:
        status = 500
    code = NOT_FOUND if status == 404 else INVALID_ARGUMENT
    return error_reply(status, code, f"Emulated failure requested by [[fail={status}]].")


# --- request validation ---------------------------------------------------------------------


def _unprocessable(detail: str) -> _Reply:
    """xAI answers deserialization failures with 422 and serde's text."""
    return error_reply(
        422, INVALID_ARGUMENT, f"Failed to deserialize the JSON body into the target type: {detail}"
    )


def _check_message(index: int, message: Any) -> str | None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        return f"{where}: expected an object with `role` and `content`"
    role = message.get("role")
    if "role" not in message:
        return f"{where}: missing field `role`"
    if role not in ROLES:
        return f"{where}.role: unknown variant `{role}`, expected one of {', '.join(ROLES)}"
    content = message.get("content")
    if "content" not in message and role != "assistant":
        return f"{where}: missing field `content`"
    if content is None and role == "assistant":
        return None
    if not isinstance(content, (str, list)):
        return f"{where}.content: expected a string or a list of content parts"
    return None


def _check_optional(body: dict[str, Any]) -> str | None:
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not 0 <= temperature <= 2
    ):
        return "temperature: expected a number between 0 and 2"
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        bad = isinstance(value, bool) or not isinstance(value, int) or value < 1
        if value is not None and bad:
            return f"{name}: expected a positive integer"
    for name in ("deferred", "stream"):
        if body.get(name) is not None and not isinstance(body.get(name), bool):
            return f"{name}: expected a boolean"
    effort = body.get("reasoning_effort")
    if effort is not None and not isinstance(effort, str):
        return "reasoning_effort: expected a string"
    return None


def check_request_shape(body: Any) -> str | None:
    """What is wrong with a ChatRequest body, or None; the text goes into the 422 answer."""
    if not isinstance(body, dict):
        return "expected a JSON object"
    if "messages" not in body:
        return "missing field `messages`"
    if "model" not in body:
        return "missing field `model`"
    if not isinstance(body["model"], str):
        return "model: expected a string"
    if not isinstance(body["messages"], list):
        return "messages: expected a list of messages"
    for index, message in enumerate(body["messages"]):
        problem = _check_message(index, message)
        if problem:
            return problem
    return _check_optional(body)


def _model_not_found(name: Any) -> _Reply:
    return error_reply(
        404,
        NOT_FOUND,
        f"The model {name} does not exist or your team {EMULATED_TEAM} does not "
        "have access to it. Please ensure you're using the correct API key. If you believe "
        "this is a mistake, please contact support and quote your team ID and the model name.",
    )


def _check_semantics(body: dict[str, Any]) -> _Reply | catalogue.Resolution:
    """The 400/404/410 checks xAI makes after the body deserialized; returns who answers."""
    if body.get("search_parameters") is not None:
        return error_reply(410, GONE, LIVE_SEARCH_GONE)
    if not body["messages"]:
        return error_reply(400, INVALID_ARGUMENT, "At least one message is required.")
    if body.get("stream") and body.get("deferred"):
        return error_reply(
            400, INVALID_ARGUMENT, "Deferred completions cannot be streamed: set stream to false."
        )
    resolution = catalogue.resolve(body["model"])
    if resolution is None:
        return _model_not_found(body["model"])
    problem = catalogue.effort_problem(resolution, body.get("reasoning_effort"))
    if problem:
        return error_reply(400, INVALID_ARGUMENT, problem)
    return resolution


# --- the emulator ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # benchmarks open hundreds of connections at once
    emulator: Emulator


class Emulator:
    """A local xAI deferred-completions API; use as a context manager or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        latency: float | tuple[float, float] = 0.0,
        ttl: float = 86400.0,
        time_scale: float = 1.0,
        faults: Faults | None = None,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self.host = loopback_host(host)
        self.port = port
        self.api_key = api_key
        self.faults = faults if faults is not None else Faults()
        self.verbose = verbose
        self._lock = threading.RLock()
        self._clock = _Clock(time_scale)
        self._latency = latency_range(latency)
        self._ttl = _positive(ttl, "ttl")
        self._latency_rng = random.Random(seed)
        self._seed = seed
        self._fault_rng = random.Random(seed)
        self._fault_seed: int | None = None
        self._jobs: dict[str, _Job] = {}
        self._ids: dict[str, _IdCount] = {}
        self._records: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
        self._counts: Counter[tuple[str, int]] = Counter()
        self._fault_requests = 0
        self._burst_left = 0
        self._sockets: set[socket.socket] = set()
        self._max_active = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        from .batch import BatchService  # late: batch.py builds on this module

        self.batches = BatchService(self)  # the Batch API (BATCH.md), with its own knobs

    # -- lifecycle --

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, the value for ``XAI_BASE_URL``."""
        if self._server is None:
            raise RuntimeError("Emulator not started: call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread; returns self."""
        with self._lock:
            if self._server is not None:
                return self
            server = _Server((self.host, self.port), _Handler)
            server.emulator = self
            self.port = server.server_address[1]
            self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"xai-emulator-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open keep-alive connections and the socket; idempotent."""
        with self._lock:
            server, self._server = self._server, None
            sockets = list(self._sockets)
        if server is None:
            return
        server.shutdown()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- settings --

    @property
    def latency(self) -> float | tuple[float, float]:
        """Processing time of a deferred job in emulated seconds (fixed or a uniform range)."""
        low, high = self._latency
        return low if low == high else (low, high)

    @latency.setter
    def latency(self, value: float | tuple[float, float]) -> None:
        self._latency = latency_range(value)

    @property
    def ttl(self) -> float:
        """Emulated seconds after which an unretrieved result is gone (xAI: 24 h)."""
        return self._ttl

    @ttl.setter
    def ttl(self, value: float) -> None:
        self._ttl = _positive(value, "ttl")

    @property
    def time_scale(self) -> float:
        """How many emulated seconds pass per real second."""
        return self._clock.scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        with self._lock:
            self._clock.set_scale(value)

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply ``latency``, ``time_scale``, ``ttl`` and any Faults field; all or nothing."""
        names = {f.name for f in fields(Faults)}
        unknown = set(settings) - names - {"latency", "time_scale", "ttl"}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        changed = {k: settings[k] for k in names & set(settings)}
        new_faults = Faults(**{**asdict(self.faults), **changed})
        new_faults.validate()
        latency = latency_range(settings["latency"]) if "latency" in settings else self._latency
        if "time_scale" in settings:
            _positive(settings["time_scale"], "time_scale")
        if "ttl" in settings:
            _positive(settings["ttl"], "ttl")
        with self._lock:
            for name in names & set(settings):
                setattr(self.faults, name, getattr(new_faults, name))
            self._latency = latency
            if "time_scale" in settings:
                self._clock.set_scale(settings["time_scale"])
            if "ttl" in settings:
                self._ttl = float(settings["ttl"])

    def config(self) -> dict[str, Any]:
        """The current settings, in the shape ``configure`` accepts."""
        low, high = self._latency
        return {
            "latency": low if low == high else [low, high],
            "time_scale": self.time_scale,
            "ttl": self._ttl,
            **asdict(self.faults),
        }

    # -- introspection --

    def get_count(self, request_id: str) -> int:
        """GET requests received for this id (including ones answered by a fault)."""
        with self._lock:
            return self._ids.get(request_id, _IdCount()).gets

    def delivered_count(self, request_id: str) -> int:
        """200s served for this id; the protocol guarantees at most one."""
        with self._lock:
            return self._ids.get(request_id, _IdCount()).delivered

    def gets_after_delivery(self, request_id: str) -> int:
        """GETs received after this id's 200 (a well-behaved client sends none)."""
        with self._lock:
            return self._ids.get(request_id, _IdCount()).gets_after_delivery

    def job_ids(self) -> list[str]:
        """Every deferred request id issued, oldest first."""
        with self._lock:
            return list(self._jobs)

    def requests(self) -> list[RequestRecord]:
        """Every API request answered since the last reset (admin calls excluded)."""
        with self._lock:
            return list(self._records)

    def stats(self) -> dict[str, Any]:
        """Counts by method and status, job states, peak connections, per-id GET summary."""
        with self._lock:
            counts = dict(self._counts)
            ids = list(self._ids.values())
            job_states = self._job_states()
            max_active = self._max_active
        by_method: Counter[str] = Counter()
        by_status: Counter[str] = Counter()
        for (method, status), n in counts.items():
            by_method[method] += n
            by_status[str(status)] += n
        gets = [c.gets for c in ids]
        return {
            "total": sum(counts.values()),
            "by_method": dict(by_method),
            "by_status": dict(by_status),
            "by_method_status": {f"{m} {s}": n for (m, s), n in sorted(counts.items())},
            "dropped": by_status.get("0", 0),
            "jobs": job_states,
            "max_concurrent_connections": max_active,
            "gets_per_id": {
                "ids": len(ids),
                "total": sum(gets),
                "max": max(gets, default=0),
                "mean": (sum(gets) / len(gets)) if gets else 0.0,
                "delivered_total": sum(c.delivered for c in ids),
                "delivered_max": max((c.delivered for c in ids), default=0),
                "gets_after_delivery_total": sum(c.gets_after_delivery for c in ids),
            },
        }

    def id_counts(self) -> dict[str, dict[str, int]]:
        """Per-id counts ``{id: {"gets", "delivered", "gets_after_delivery"}}``."""
        with self._lock:
            return {rid: asdict(c) for rid, c in self._ids.items()}

    def _job_states(self) -> dict[str, int]:
        now = self._clock.now()
        states: Counter[str] = Counter({"pending": 0, "ready": 0, "delivered": 0, "expired": 0})
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

    # -- test controls --

    def complete(self, request_id: str) -> None:
        """Make a pending job ready now."""
        with self._lock:
            self._job(request_id).ready_at = -math.inf

    def expire(self, request_id: str) -> None:
        """Make a job behave as older than the TTL."""
        with self._lock:
            self._job(request_id).expired = True

    def reset_counters(self) -> None:
        """Forget request records and counts (jobs, settings and faults stay)."""
        with self._lock:
            self._ids.clear()
            self._records.clear()
            self._counts.clear()
            self._max_active = len(self._sockets)

    def reset(self, *, jobs: bool = False, faults: bool = False) -> None:
        """Reset counters and, optionally, drop every job and switch all faults off."""
        with self._lock:
            self.reset_counters()
            self._fault_requests = self._burst_left = 0
            if jobs:
                self._jobs.clear()
                self.batches.clear()
            if faults:
                for f in fields(Faults):
                    setattr(self.faults, f.name, getattr(Faults(), f.name))

    def _job(self, request_id: str) -> _Job:
        try:
            return self._jobs[request_id]
        except KeyError:
            raise KeyError(f"unknown request id {request_id!r}") from None

    # -- request handling (called from handler threads) --

    def handle(self, method: str, target: str, auth: str | None, raw: bytes) -> _Outcome:
        """Route one request and produce its answer."""
        path = urlsplit(target).path
        if path.startswith(ADMIN_PREFIX):
            return _Outcome(self._admin(method, path, raw), record=False)
        if method == "POST" and path == CHAT_PATH:
            return self._handle_post(auth, raw)
        if path.startswith(CATALOGUE_PATHS):
            kind = "post" if method == "POST" else "get"
            reply = self._faults_for(kind) or self._check_auth(auth)
            return _Outcome(reply or _catalogue_reply(method, path, raw), body=_loads_or_none(raw))
        if path == "/v1/batches" or path.startswith("/v1/batches/"):
            return self.batches.handle(method, target, auth, raw)
        request_id = path[len(DEFERRED_PREFIX):] if path.startswith(DEFERRED_PREFIX) else ""
        if method == "GET" and request_id and "/" not in request_id:
            return self._handle_get(request_id, auth)
        return _Outcome(error_reply(404, NOT_FOUND, NO_ROUTE))

    def _handle_post(self, auth: str | None, raw: bytes) -> _Outcome:
        body = _loads_or_none(raw)
        reply = self._faults_for("post") or self._check_auth(auth)
        if reply is not None:
            return _Outcome(reply, body=body)
        reply, request_id = self._submit(raw, body)
        return _Outcome(reply, request_id=request_id, body=body)

    def _handle_get(self, request_id: str, auth: str | None) -> _Outcome:
        self._note_get(request_id)
        reply = self._faults_for("get") or self._check_auth(auth) or self._poll(request_id)
        return _Outcome(reply, request_id=request_id)

    def _check_auth(self, header: str | None) -> _Reply | None:
        scheme, _, token = (header or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
            return _unauthorized()
        if self.api_key is not None and token != self.api_key:
            return error_reply(
                400,
                INVALID_ARGUMENT,
                f"Incorrect API key provided: {mask_key(token)}. You can obtain an API key from "
                "https://console.x.ai.",
            )
        return None

    def _faults_for(self, kind: str) -> _Reply | None:
        """Apply the configured faults in xAI-plausible order; may sleep (slow fault)."""
        faults = self.faults
        if faults.faults_apply_to not in ("all", kind):
            return None
        with self._lock:
            rng = self._rng_for_faults()
            self._fault_requests += 1
            if faults.billing_exhausted:
                return _billing_reply(faults.billing_status)
            if faults.drop_rate > 0 and rng.random() < faults.drop_rate:
                return _Reply(0, drop=True)
            if faults.error_5xx_rate > 0 and rng.random() < faults.error_5xx_rate:
                return _server_error_reply(rng.choice((500, 502, 503)), html=rng.random() < 0.5)
            if self._in_burst(faults):
                return _rate_limit_reply(faults.retry_after)
            slow = faults.slow_rate > 0 and rng.random() < faults.slow_rate
        if slow:
            time.sleep(max(0.0, faults.slow_seconds))
        return None

    def _rng_for_faults(self) -> random.Random:
        seed = self.faults.seed
        if seed is not None and seed != self._fault_seed:
            self._fault_rng.seed(seed)
        self._fault_seed = seed
        return self._fault_rng

    def _in_burst(self, faults: Faults) -> bool:
        if self._burst_left > 0:
            self._burst_left -= 1
            return True
        every = faults.burst_429_every
        if every > 0 and faults.burst_429_length > 0 and self._fault_requests % every == 0:
            self._burst_left = faults.burst_429_length - 1
            return True
        return False

    def _submit(self, raw: bytes, body: Any) -> tuple[_Reply, str | None]:
        if body is None and raw.strip() != b"null":
            return error_reply(
                400, INVALID_ARGUMENT, "Failed to parse the request body as JSON."
            ), None
        problem = check_request_shape(body)
        if problem:
            return _unprocessable(problem), None
        resolution = _check_semantics(body)
        if isinstance(resolution, _Reply):
            return resolution, None
        directives = answers.parse_directives(answers.user_text(body["messages"]))
        if directives.fail is not None:
            return _fail_directive_reply(directives.fail, self.faults.retry_after), None
        request_id = self.faults.request_id or str(uuid.uuid4())
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
            return _json_reply(200, completion), request_id
        self._add_job(request_id, completion, directives.latency)
        return _json_reply(200, {"request_id": request_id}), request_id

    def _add_job(self, request_id: str, completion: dict[str, Any], latency: float | None) -> None:
        with self._lock:
            if latency is None:
                low, high = self._latency
                latency = low if low == high else self._latency_rng.uniform(low, high)
            now = self._clock.now()
            self._jobs[request_id] = _Job(request_id, now, now + latency, completion)

    def _note_get(self, request_id: str) -> None:
        with self._lock:
            counts = self._ids.setdefault(request_id, _IdCount())
            counts.gets += 1
            job = self._jobs.get(request_id)
            if job is not None and job.delivered:
                counts.gets_after_delivery += 1

    def _is_expired(self, job: _Job, now: float) -> bool:
        return job.expired or now - job.created > self._ttl

    def _poll(self, request_id: str) -> _Reply:
        with self._lock:
            job = self._jobs.get(request_id)
            now = self._clock.now()
            if job is None or job.delivered or self._is_expired(job, now):
                return error_reply(404, NOT_FOUND, NO_DEFERRED)
            if now < job.ready_at:
                return _Reply(202, content_type=None)
            body, job.body, job.delivered = job.body, None, True
            self._ids.setdefault(request_id, _IdCount()).delivered += 1
            faults = self.faults
        reply = _json_reply(200, body)
        reply.trickle_seconds = max(0.0, faults.deliver_seconds)
        reply.drop_midway = faults.lose_after_delivery
        return reply

    # -- admin --

    def _admin(self, method: str, path: str, raw: bytes) -> _Reply:
        """Out-of-process control: stats, config, reset, complete/expire (no auth)."""
        action = path[len(ADMIN_PREFIX):]
        if method == "GET" and action == "stats":
            return _json_reply(200, {**self.stats(), "ids": self.id_counts()})
        if method == "GET" and action == "config":
            return _json_reply(200, self.config())
        if method != "POST":
            return error_reply(404, NOT_FOUND, NO_ROUTE)
        payload = _loads_or_none(raw) if raw.strip() else {}
        if not isinstance(payload, dict):
            return error_reply(400, INVALID_ARGUMENT, "Expected a JSON object.")
        try:
            return self._admin_post(action, payload)
        except (ValueError, TypeError) as exc:
            return error_reply(400, INVALID_ARGUMENT, str(exc))
        except KeyError as exc:
            return error_reply(404, NOT_FOUND, str(exc.args[0]))

    def _admin_post(self, action: str, payload: dict[str, Any]) -> _Reply:
        if action == "config":
            self.configure(payload)
            return _json_reply(200, self.config())
        if action == "reset":
            self.reset(jobs=bool(payload.get("jobs")), faults=bool(payload.get("faults")))
            return _json_reply(200, {"ok": True})
        verb, _, request_id = action.partition("/")
        if verb in ("complete", "expire") and request_id:
            (self.complete if verb == "complete" else self.expire)(request_id)
            return _json_reply(200, {"ok": True})
        return error_reply(404, NOT_FOUND, NO_ROUTE)

    # -- bookkeeping from the handler --

    def _record(self, method: str, path: str, outcome: _Outcome) -> None:
        status = 0 if outcome.reply.drop else outcome.reply.status
        record = RequestRecord(
            method, urlsplit(path).path, status, outcome.request_id, time.monotonic(), outcome.body
        )
        with self._lock:
            self._records.append(record)
            self._counts[(method, status)] += 1

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            self._max_active = max(self._max_active, len(self._sockets))

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


def _catalogue_reply(method: str, path: str, raw: bytes) -> _Reply:
    """``/v1/language-models[/{id}]``, ``/v1/models[/{id}]`` and ``/v1/tokenize-text``."""
    if method == "POST" and path == "/v1/tokenize-text":
        body = _loads_or_none(raw)
        if not isinstance(body, dict):
            return error_reply(400, INVALID_ARGUMENT, "Failed to parse the request body as JSON.")
        text, model = body.get("text", ""), body.get("model")
        if not isinstance(text, str) or not isinstance(model, (str, type(None))):
            return _unprocessable("text and model: expected strings")
        if model is not None and catalogue.resolve(model) is None:
            return _model_not_found(model)
        return _json_reply(200, catalogue.tokenize_body(text))
    if method != "GET":
        return error_reply(404, NOT_FOUND, NO_ROUTE)
    if path in ("/v1/language-models", "/v1/models"):
        listed = path == "/v1/models"
        return _json_reply(200, catalogue.models_list_body() if listed
                           else catalogue.language_models_body())
    prefix, _, name = path.rpartition("/")
    if prefix not in ("/v1/language-models", "/v1/models"):
        return error_reply(404, NOT_FOUND, NO_ROUTE)
    model = catalogue.find(name)
    if model is None:
        return _model_not_found(name)
    entry = catalogue.model_entry_body if prefix == "/v1/models" else catalogue.language_model_body
    return _json_reply(200, entry(model))


def _loads_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP layer: read the body, ask the emulator, write the answer with Content-Length."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server_version = "xai-defer-emulator/0.1"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.emulator._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._closed(self.connection)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        emulator = self.server.emulator
        raw = self._read_body()
        try:
            outcome = emulator.handle(method, self.path, self.headers.get("Authorization"), raw)
        except Exception as exc:  # an emulator bug must still produce an answer
            traceback.print_exc(file=sys.stderr)
            outcome = _Outcome(error_reply(500, INTERNAL, f"Emulator error: {type(exc).__name__}"))
        if outcome.record:
            emulator._record(method, self.path, outcome)
        self._send(outcome.reply)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, reply: _Reply) -> None:
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.trickle_seconds or reply.drop_midway:
            self._write_slowly(reply)
        elif reply.body:
            self.wfile.write(reply.body)

    def _write_slowly(self, reply: _Reply) -> None:
        """A delivery fault: the body in ten pieces over ``trickle_seconds``, or cut halfway."""
        body = reply.body
        cut = len(body) // 2 if reply.drop_midway else len(body)
        pieces = [body[i:i + max(1, cut // 10)] for i in range(0, cut, max(1, cut // 10))]
        with contextlib.suppress(OSError):
            for piece in pieces:
                self.wfile.write(piece)
                self.wfile.flush()
                time.sleep(reply.trickle_seconds / len(pieces))
            if reply.drop_midway:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.verbose:
            super().log_message(format, *args)
