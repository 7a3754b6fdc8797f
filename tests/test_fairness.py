"""Fair spreading across workers (issue 4): a worker accepts only while it has a free thread, so a
busy worker leaves new connections to its idle siblings instead of hoarding them.

Measured here: two single-thread workers, one pinned by a slow request; every new connection
opened meanwhile must be answered promptly, by the other worker.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))

from proctools import BackgroundRequest, http_get, master_pid, wait_for, wait_workers  # noqa: E402

APP = "proc_apps:app"


def test_pinned_worker_leaves_new_connections_to_its_idle_sibling(start_server, tmp_path):
    srv = start_server("-w", "2", "--threads", "1", APP, cwd=tmp_path)
    master = master_pid(srv)
    wait_workers(master, 2)
    marker = tmp_path / "pinned"
    slow = BackgroundRequest(srv.host, srv.port, f"/sleep?s=3&marker={quote(str(marker))}", timeout=15)
    slow.start()
    wait_for(marker.exists, 10, message="the slow request to reach the app")
    pinned = int(marker.read_text().split()[1])
    served, worst = [], 0.0
    for _ in range(40):
        t0 = time.monotonic()
        status, body = http_get(srv.host, srv.port, "/pid", timeout=5)
        worst = max(worst, time.monotonic() - t0)
        assert status == 200
        served.append(json.loads(body)["pid"])
    slow.finish(10)
    assert slow.result is not None and slow.result[0] == 200, slow.error
    # Every request was answered by the idle worker, none queued behind the pinned one.
    assert pinned not in served, f"a request waited for the busy worker {pinned}: {served}"
    assert worst < 0.5, f"a new connection waited {worst:.2f}s while one worker was busy"
