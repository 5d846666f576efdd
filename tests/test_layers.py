"""The layers hold: a module may import the layers below it, never one above.

`make test` runs ruff over every folder, and each folder's ruff.toml bans the layers above
it (TID251). This proves the rules bite: the same ruff, given an upward import as if it
sat in each folder, refuses it; a downward one passes.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from pulse.warehouse import PROJECT_ROOT

RUFF = str(Path(sys.executable).with_name("ruff"))
# Ground up: a folder may import every layer before it in this list.
LAYERS = ["pulse", "collector", "pipelines", "orchestration", "sample_api"]
HARNESS = ["bench", "reliability", "tests"]


def ruff_on(folder: str, source: str) -> subprocess.CompletedProcess:
    return subprocess.run([RUFF, "check", "--no-cache", "--select", "TID251",
                           "--stdin-filename", f"{folder}/layer_probe.py", "-"],
                          input=source, cwd=PROJECT_ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("folder", LAYERS + ["bench", "reliability"])
def test_an_import_of_a_layer_above_fails_the_lint(folder):
    above = LAYERS[LAYERS.index(folder) + 1:] + ["tests"] if folder in LAYERS else ["tests"]
    for module in above:
        run = ruff_on(folder, f"import {module}.something\n")
        assert run.returncode == 1 and "TID251" in run.stdout, (folder, module, run.stdout)


@pytest.mark.parametrize("folder", LAYERS[1:] + HARNESS)
def test_an_import_of_a_layer_below_passes(folder):
    below = LAYERS[:LAYERS.index(folder)] if folder in LAYERS else LAYERS
    run = ruff_on(folder, "".join(f"import {module}\n" for module in below))
    assert run.returncode == 0, (folder, run.stdout)


def test_pulse_ships_no_fake_api_and_no_orchestration():
    run = ruff_on("pulse", "import dagster\nimport dlt\nimport sample_api\n")
    assert run.stdout.count("TID251") == 3, run.stdout
