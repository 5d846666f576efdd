"""dbt starts warm: the parse `make manifest` leaves is the one every later dbt reuses.

dbt reuses its last parse (partial_parse.msgpack in the target folder) only if the profile
it renders hashes as it did then (host, port, user, database, schema: pulse/dbt.py,
PARSE_VARIABLES). `make manifest` runs in a shell without the PG* variables; the Dagster dbt
asset, `pulse build` and a bare dbt after `pulse db env --role transformer` run as the
transformer. Before they were parsed alike, each of them
logged "Unable to do partial parsing because profile has changed" and parsed the whole
project again (the Dagster asset at every run: dagster-dbt copies the prepared parse into
each run's target folder and never writes it back).
"""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from pulse import roles, warehouse
from pulse.warehouse import PROJECT_ROOT

PULSE = str(Path(sys.executable).with_name("pulse"))
SEED = "chicago_community_areas"  # a small node: dbt's start-up is most of its build
COLD = "Unable to do partial parsing"
WARM = "Partial parsing enabled"  # dbt's debug line when it reuses the last parse


def make_manifest() -> str:
    """The Python the Makefile's `manifest` target runs."""
    recipe = (PROJECT_ROOT / "Makefile").read_text().split("\nmanifest:", 1)[1].splitlines()[1]
    return recipe.split(' -c "', 1)[1].rstrip('"')


def shell_env(**extra: str) -> dict[str, str]:
    """A user's shell: the warehouse's URL, none of the PG* variables Pulse exports."""
    return {**{k: v for k, v in os.environ.items()
               if not k.startswith("PG") and k != "PULSE_ANALYST_ROLE"}, **extra}


@pytest.fixture(scope="module")
def prepared(warehouse_db, tmp_path_factory):
    """`make manifest` in a target folder of its own (a first, full parse); yields the
    folder and the transformer's password, findable in a file if it leaked into one."""
    target = tmp_path_factory.mktemp("target")
    saved = {key: os.environ.get(key) for key in ("DBT_TARGET_PATH", "PULSE_TRANSFORMER_PASSWORD")}
    os.environ["DBT_TARGET_PATH"] = str(target)
    if warehouse.is_embedded_server(warehouse_db):  # trust authentication: any password does
        os.environ["PULSE_TRANSFORMER_PASSWORD"] = f"transformer-{uuid.uuid4().hex}"
    from pulse.dbt import export_dbt_env

    password = export_dbt_env().password  # the transformer's, in PGPASSWORD from here on
    try:
        # PGDATABASE as in a shell on the embedded warehouse, where profiles.yml's default
        # database is the warehouse's own (`pulse`): only where and who differ.
        run = subprocess.run([sys.executable, "-c", make_manifest()], cwd=PROJECT_ROOT,
                             env=shell_env(PGDATABASE=warehouse_db.database),
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-3000:]
        assert (target / "partial_parse.msgpack").exists()
        yield target, password
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        export_dbt_env()


def assert_warm(log: str) -> None:
    cold = [line for line in log.splitlines() if COLD in line]
    assert not cold, "dbt parsed the project again:\n" + "\n".join(cold)
    assert WARM in log


def test_dagster_pulse_build_and_a_bare_dbt_reuse_the_parse_make_manifest_left(prepared, tmp_path):
    from orchestration.defs.dbt import dbt_models
    from orchestration.lib.resources import resources

    target, password = prepared
    prepared_parse = (target / "partial_parse.msgpack").read_bytes()
    with dg.instance_for_test() as instance:
        result = dg.materialize([dbt_models()], resources=resources(), instance=instance,
                                selection=[f"seeds/{SEED}"])
    assert result.success
    # the definitions found the manifest fresh: the parse they handed dbt is make's
    assert (target / "partial_parse.msgpack").read_bytes() == prepared_parse
    [dagster_log] = target.glob("dbt_models-*/dbt.log")  # the run's own target folder
    assert_warm(dagster_log.read_text())

    build = subprocess.run([PULSE, "build", "--select", SEED, "--exclude-resource-type", "test"],
                           env=shell_env(DBT_LOG_PATH=str(tmp_path / "cli")), capture_output=True,
                           text=True)
    assert build.returncode == 0, build.stdout[-3000:]
    assert_warm((tmp_path / "cli" / "dbt.log").read_text())

    # A bare dbt, as profiles.yml says: after `eval "$(pulse db env --role transformer)"`.
    bare = subprocess.run(
        ["bash", "-c", 'eval "$(pulse db env --role transformer)" && exec dbt "$@"', "-",
         "ls", "--select", SEED, "--project-dir", str(PROJECT_ROOT),
         "--profiles-dir", str(PROJECT_ROOT)],
        env=shell_env(DBT_LOG_PATH=str(tmp_path / "bare"),
                      PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"),
        capture_output=True, text=True)
    assert bare.returncode == 0, bare.stdout[-3000:] + bare.stderr[-3000:]
    assert_warm((tmp_path / "bare" / "dbt.log").read_text())

    # The password stays in the environment: in no artifact (the parse never had it), no log.
    leaked = [str(path) for folder in (target, tmp_path) for path in folder.rglob("*")
              if path.is_file() and password.encode() in path.read_bytes()]
    assert password != warehouse.EMBEDDED_PASSWORD and leaked == []


def test_a_readers_parse_leaves_the_builds_parse_alone(prepared, tmp_path, monkeypatch):
    """`pulse reports` (the analyst, maybe with its own URL only) parses a stale manifest
    with its own variables: manifest.json is renewed, the builds' partial parse is not."""
    from pulse.dbt import manifest_path, prepare_dbt

    target, _ = prepared
    builds_parse = (target / "partial_parse.msgpack").read_bytes()
    before = manifest_path().stat().st_mtime_ns
    for key, value in roles.connection("analyst").libpq_env().items():
        monkeypatch.setenv(key, value)
    prepare_dbt(force=True, reader=True)
    assert manifest_path().stat().st_mtime_ns > before
    assert (target / "partial_parse.msgpack").read_bytes() == builds_parse
    assert not list(target.glob(".parse-*"))  # its scratch folder is gone


def test_the_recorded_variables_are_what_the_profile_and_project_read():
    """prepare_dbt parses again when one of PARSE_VARIABLES differs from its last parse:
    a variable profiles.yml or dbt_project.yml reads is in the list, or is not hashed."""
    from pulse.dbt import PARSE_VARIABLES

    text = "".join((PROJECT_ROOT / name).read_text() for name in ("profiles.yml", "dbt_project.yml"))
    read = set(re.findall(r"env_var\(\s*['\"](\w+)['\"]", text))
    assert read - set(PARSE_VARIABLES) == {"PGPASSWORD", "PULSE_DBT_THREADS"}  # not hashed
    assert set(PARSE_VARIABLES) <= read
