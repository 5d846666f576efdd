"""The fault injection itself, on stand-in processes: a kill lands in the phase it was
aimed at, a child that finished first is no kill, dbt's log is read for its nodes."""

import sys
import time

from reliability.child import describe
from reliability.kill import FINISHED, Child, ChildRun, kill_unfinished, strike
from reliability.scenarios.crash import dbt_marker, in_flight

# Prints a phase marker, then works (sleeps) in it: a, b, c, then done. Phases of seconds:
# a loaded machine must not push a kill aimed mid-phase into the next one.
PHASES = """
import time
for phase, seconds in [("a", 1.0), ("b", 2.0), ("c", 1.0)]:
    print(f"phase {phase} {time.monotonic()}", flush=True)
    time.sleep(seconds)
print(f"phase done {time.monotonic()}", flush=True)
"""


def child(tmp_path) -> Child:
    return Child([sys.executable, "-c", PHASES], env={}, log=tmp_path / "child.log")


def test_a_kill_lands_in_the_phase_it_was_aimed_at(tmp_path):
    run = strike(child(tmp_path), "b", delay=1.0)
    assert run.killed and run.landed == "b"
    assert run.returncode == -9  # SIGKILL
    assert [p for p, _ in run.markers] == ["a", "b"]


def test_a_child_that_finished_first_is_no_kill(tmp_path):
    run = strike(child(tmp_path), "c", delay=10.0)
    assert run.landed == FINISHED and run.returncode == 0
    durations = run.durations()
    assert 1.5 < durations["b"] < 4.0 and set(durations) == {"a", "b", "c"}


def test_a_fault_that_does_not_kill_is_placed_by_the_markers_before_it(tmp_path):
    struck = []
    run = strike(child(tmp_path), "a", delay=0.3, fault=lambda: struck.append(time.monotonic()))
    assert struck and not run.killed
    assert run.landed == "a"  # the child went on to finish; the fault hit it in `a`
    assert run.returncode == 0


def test_a_scenario_cut_short_leaves_no_child_running(tmp_path):
    kill_unfinished()  # children an earlier test of this worker left: not this test's count
    waiting = Child([sys.executable, "-c", "import time; time.sleep(60)"], env={},
                    log=tmp_path / "waiting.log")
    done = child(tmp_path)
    done.finish()
    assert kill_unfinished() == 1  # the finished one is not struck again
    assert waiting.proc.wait(timeout=10) == -9


def test_dbt_log_lines_give_the_phase_and_the_nodes_in_flight():
    log = [
        "02:52:21  1 of 9 START seed file seeds.fbi_crime_codes .......................... [RUN]",
        "02:52:22  1 of 9 OK loaded seed file seeds.fbi_crime_codes ........ [INSERT 26 in 0.45s]",
        "02:52:22  2 of 9 START test accepted_values_chicago_community_areas_side__Far_Side  [RUN]",
        "02:52:22  3 of 9 START sql incremental model enriched.int_chicago__crimes_enriched ..... [RUN]",
        "02:52:22  2 of 9 PASS accepted_values_chicago_community_areas_side__Far_Side ..... [PASS in 0.03s]",
        "02:52:23  Finished running 1 seed, 1 test, 1 model in 0 hours 0 minutes and 1.98 seconds.",
    ]
    assert [dbt_marker(line) for line in log] == ["build", None, "build", "model", None, "done"]
    run = ChildRun(lines=[(line, float(i)) for i, line in enumerate(log)], struck_at=4.5)
    assert in_flight(run) == ["sql incremental model enriched.int_chicago__crimes_enriched"]


def test_a_child_error_names_the_root_cause_first():
    try:
        try:
            raise ConnectionError("server closed the connection\nunexpectedly")
        except ConnectionError as err:
            raise RuntimeError("load failed") from err
    except RuntimeError as err:
        text = describe(err)
    assert text == ("ConnectionError: server closed the connection / unexpectedly <- "
                    "RuntimeError: load failed")
