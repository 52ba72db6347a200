"""Two processes race for one id's lease through real renewals and real expiries.

Each holder does what the poller does: claim right before each GET (a renewal while it holds
the lease), and trusts the lease for a full term from that claim. Every hold ends without a
release (a stalled or killed holder), so the other process can only get in after expiry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from xai_defer_magic import journal as journal_mod
from xai_defer_magic.journal import JobRecord, Journal

PKG_PARENT = str(Path(journal_mod.__file__).resolve().parents[1])
LEASE = 0.8  # seconds

HOLDER = textwrap.dedent(
    """
    import json, sys, time
    from xai_defer_magic.journal import Journal, process_owner
    home, rid, start_at, until, lease, out = sys.argv[1:]
    lease = float(lease)
    j = Journal(home)
    me = process_owner()
    holds, refused_renewals = [], 0
    time.sleep(max(0.0, float(start_at) - time.time()))
    while time.time() < float(until):
        if not j.claim(rid, me, lease):
            time.sleep(0.005)
            continue
        begin = time.time()
        time.sleep(0.3 * lease)            # a first, short GET
        renewed_at = time.time()
        if not j.claim(rid, me, lease):    # the renewal before the next GET
            refused_renewals += 1
            continue
        time.sleep(0.8 * lease)            # a long GET, trusted to the renewal's full term
        holds.append([begin, time.time(), renewed_at])
        time.sleep(0.8 * lease)            # stalled: no release; the lease must expire
    json.dump({"holds": holds, "refused_renewals": refused_renewals}, open(out, "w"))
    """
)


def test_two_processes_share_a_lease_only_through_renewal_and_expiry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    journal = Journal(home)
    journal.add(JobRecord(request_id="race", created_at=time.time(), model="grok-4",
                          request={}, base_url="https://api.x.ai/v1"))
    journal.close()
    env = {**os.environ, "PYTHONPATH": PKG_PARENT}
    start_at = time.time() + 1.0
    outs = [tmp_path / f"holder{i}.json" for i in range(2)]
    procs = [
        subprocess.Popen([sys.executable, "-c", HOLDER, str(home), "race", str(start_at),
                          str(start_at + 6.0), str(LEASE), str(out)], env=env)
        for out in outs
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    a, b = (json.loads(out.read_text()) for out in outs)
    assert a["refused_renewals"] == b["refused_renewals"] == 0, "a holder lost its lease"
    assert len(a["holds"]) >= 2 and len(b["holds"]) >= 2, (a, b)  # takeovers after expiry
    for s1, e1, r1 in a["holds"]:
        for s2, e2, r2 in b["holds"]:
            assert e1 <= s2 or e2 <= s1, (
                f"both held the lease: [{s1:.3f}, {e1:.3f}] and [{s2:.3f}, {e2:.3f}]"
            )
            # the later one got in only after the earlier one's renewed term ran out
            (e_first, r_first), s_next = ((e1, r1), s2) if s1 < s2 else ((e2, r2), s1)
            if s_next - e_first < LEASE:
                assert s_next >= r_first + LEASE - 0.05, "taken before the lease expired"
