"""A short soak (bench/soak.py for ~20 s): memory stays flat, nothing promised is lost,
every killed node comes back, and the CURVE and plain floods lose nothing uncounted.

The full run (``bench/soak.py --minutes 10``) writes bench/results/soak.json; this runs the
same script, shorter, as a subprocess, and checks its JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import ROOT, cli_env


def test_short_soak_memory_flat_nothing_lost(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    cmd = [sys.executable, str(ROOT / "bench" / "soak.py"), "--minutes", "0.25", "--warmup", "6", "--sample-every",
           "1", "--kills", "1", "--kill-gap", "1", "--curve-messages", "5000", "--curve-rounds", "1", "--out", str(out)]
    res = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    soak = json.loads(out.read_text())
    print(res.stdout)
    nodes = {"/talker", "/relay", "/listener", "launcher+broker"}
    assert nodes <= set(soak["memory"]), soak["memory"]
    for name, mem in soak["memory"].items():
        assert mem["growth_pct"] < 5.0, (name, mem)
    assert soak["node_counters"]["/listener"]["in:/chatter"] > 5_000  # it did run at a high rate
    assert soak["lost"] == 0 and soak["gaps_seen_by_monitor"] == 0
    assert soak["respawn_seconds"]["not_back"] == 0 and soak["respawn_seconds"]["n"] >= len(nodes) - 1
    assert all(o["not_back"] == 0 for o in soak["output_back_seconds"].values()), soak["output_back_seconds"]
    # both floods ran, every message received or counted by its publisher (soak.py exits 1 otherwise);
    # an unpaced 5,000-frame burst may outrun a starved link (a full link waits 2 ms, then drops and counts)
    assert set(soak["curve"]["msgs_per_s"]) == {"plain_tcp", "curve"}
    assert all(d >= 0 for ds in soak["curve"]["dropped_by_publisher"].values() for d in ds)
