"""The logs section of `make bench` cannot rot: it runs alone at a tiny scale.

No timing is asserted (timings live in `make bench`); the test checks that every step ran,
the backfill loaded every line Loki holds, and the 1% refresh read the new lines and the
overlap window, not the backfill, leaving every line in raw_logs.lines once.
"""

import json
import subprocess
import sys

from pulse.warehouse import PROJECT_ROOT


def test_logs_section_runs_alone_at_tiny_scale(warehouse_db, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bench.suite", "--only", "logs", "--repeat", "1",
         "--log-lines", "3000", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    assert result["sections_run"]["sections"] == ["logs"]
    logs = result["logs"]
    figures = logs["figures"]
    for key in ("loki_alone", "plain_copy", "backfill", "refresh"):
        assert figures[key]["seconds"]["median"] > 0, key
        assert figures[key]["peak_rss_mb"] > 0, key
    refresh = figures["refresh"]
    held = refresh["store_lines"][0]
    # the backfill loaded every line Loki held before the push; each parsed or rejected
    assert figures["backfill"]["lines"] == held - refresh["new_lines"]
    assert figures["backfill"]["parsed"] + figures["backfill"]["rejects"] == figures["backfill"]["lines"]
    # the refresh: every line once, and only the new lines and the overlap read
    assert refresh["table_lines"] == [held]
    assert refresh["new_lines"] == 30
    assert refresh["new_lines"] <= refresh["lines_read"]["median"] < figures["backfill"]["lines"]
    assert logs["targets"]["a refresh reads only new lines (and the overlap)"]
    table = (tmp_path / "latest.md").read_text()
    assert "Chicago: not run" in table
    assert "| 1% refresh: lines Loki answered" in table
