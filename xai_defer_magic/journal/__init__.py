"""The on-disk job journal: no paid-for answer is ever lost.

xAI hands a deferred result out exactly once, so every request id and every raw 200 body is
committed to a small SQLite database (WAL mode) before anything else happens with it. Several
kernels may share one journal directory; a per-row lease (``claim``/``release``) makes sure only
one poller at a time may GET a given id.

The journal must never crash the kernel. A locked file is waited out (writes are queued, and
the precious ones kept in a fallback file until the lock frees); an unusable file (unwritable
directory, corrupt file, disk full) is reported in ONE line through ``on_problem`` and retried,
while the session carries on with an in-memory copy.

Modules, one concern each: ``records`` (the row), ``schema`` (table and migrations), ``ops``
(every write as a value), ``leases`` (who may GET), ``files`` (paths and permissions),
``fallback`` (the pending-writes file), ``problems`` (error codes and wording), ``side_tables``
(the group and batch tables, written as journal ops), ``offline`` (the file, or a memory
copy while it cannot write), ``store`` (the ``Journal``: jobs and leases on top of that),
``job_rows`` (a job handle to its row and back).
"""

from __future__ import annotations

from xai_defer_magic.paths import DB_NAME, default_home

from .job_rows import job_from_record, job_record
from .leases import Claim, process_owner
from .records import STATUSES, UNFINISHED, JobRecord, canonical_request
from .schema import SCHEMA_VERSION
from .store import Journal

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "STATUSES",
    "UNFINISHED",
    "Claim",
    "JobRecord",
    "Journal",
    "canonical_request",
    "default_home",
    "job_from_record",
    "job_record",
    "process_owner",
]
