"""What a killed load leaves in dlt's working folder, put right before the next run.

dlt's steps are restartable, but two of its windows are not: a kill while normalize
commits a package, and a kill after the warehouse committed a load job but before dlt
recorded that. Both leave files the next run would trip over, forever. These functions
read and move dlt's files only through its public storage classes.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import dlt
from dlt.common.schema.utils import get_write_disposition
from dlt.common.storages import (
    LoadStorage,
    LoadStorageConfiguration,
    NormalizeStorage,
    NormalizeStorageConfiguration,
)
from dlt.common.storages.load_package import PackageStorage, ParsedLoadJobFileName

from pulse.warehouse import table_exists

log = logging.getLogger(__name__)


def drop_committed_leftovers(pipeline: dlt.Pipeline) -> list[str]:
    """Deletes extracted packages that dlt's normalize had already committed.

    Normalize commits a package by renaming its normalized copy into place and then
    deleting the extracted one ("do not kill this process"). A kill in between leaves
    both, and the half-deleted extracted copy fails every later normalize; the normalized
    copy is whole, so the leftover can go. Returns the load ids it deleted.
    """
    load_ids = pipeline.list_extracted_load_packages()
    if not load_ids:
        return []
    # the pipeline offers no call that deletes one extracted package
    extracted = NormalizeStorage(False, NormalizeStorageConfiguration(
        normalize_volume_path=os.path.join(pipeline.working_dir, "normalize"))).extracted_packages
    committed = {*pipeline.list_normalized_load_packages(), *pipeline.list_completed_load_packages()}
    leftovers = [load_id for load_id in load_ids if load_id in committed]
    for load_id in leftovers:
        log.warning("%s: deleting the leftover of load package %s, already normalized by a "
                    "run that was killed while committing it", pipeline.pipeline_name, load_id)
        extracted.delete_package(load_id)
    return leftovers


def mark_committed_jobs(pipeline: dlt.Pipeline, credentials: str) -> list[str]:
    """Marks as completed the append jobs of pending packages that the warehouse committed.

    dlt runs each load job in one transaction and then writes a marker saying it is done;
    a kill between the two leaves the job "started", and the next run runs it again. For
    a merge or replace table that is harmless (the job fills a staging table again), but
    an append job adds its rows twice, or, where `_dlt_id` is unique (the pipeline state
    row, every insert job), fails on them at every run: the load never finishes again.

    A job is taken as committed when its table is append-only, it is its package's only
    job for that table, and the table holds rows of the package's load id: one
    transaction put them all there. The marker written is dlt's own (a pending
    transition), so dlt resumes the job as completed and runs what follows it. Returns
    the job files it marked.
    """
    load_ids = pipeline.list_normalized_load_packages()
    if not load_ids:
        return []
    packages = LoadStorage(False, [], LoadStorageConfiguration(
        load_volume_path=os.path.join(pipeline.working_dir, "load"))).normalized_packages
    candidates = [(load_id, folder, job) for load_id in load_ids
                  for folder, job in _lone_append_jobs_unfinished(packages, load_id)]
    if not candidates:
        return []
    import psycopg

    with psycopg.connect(credentials) as conn:
        committed = [(load_id, folder, job) for load_id, folder, job in candidates
                     if _holds_rows_of(conn, pipeline.dataset_name, job.table_name, load_id)]
    marked: list[str] = []
    for load_id, folder, job in committed:
        if folder == PackageStorage.NEW_JOBS_FOLDER:  # a rerun already failed on it
            packages.start_job(load_id, job.file_name())
        packages.save_pending_transition(load_id, job.file_name(), "completed")
        log.warning("%s: load job %s of package %s was committed by a run killed before "
                    "dlt recorded it; marked completed instead of loading it twice",
                    pipeline.pipeline_name, job.file_name(), load_id)
        marked.append(job.file_name())
    return marked


def _lone_append_jobs_unfinished(packages: PackageStorage, load_id: str
                                 ) -> list[tuple[str, ParsedLoadJobFileName]]:
    """(folder, job) of the package's unfinished jobs that are their append table's only job."""
    schema = packages.load_schema(load_id)
    jobs = packages.list_all_jobs_with_states(load_id)
    per_table: dict[str, int] = {}
    for _, job in jobs:
        per_table[job.table_name] = per_table.get(job.table_name, 0) + 1
    unfinished = []
    for folder, job in jobs:
        if folder not in (PackageStorage.NEW_JOBS_FOLDER, PackageStorage.STARTED_JOBS_FOLDER):
            continue
        if per_table[job.table_name] != 1 or job.table_name not in schema.tables:
            continue
        if get_write_disposition(schema.tables, job.table_name) != "append":
            continue
        if folder == PackageStorage.STARTED_JOBS_FOLDER and \
                packages.load_pending_transition(load_id, job.file_name()) is not None:
            continue  # dlt recorded the outcome itself
        unfinished.append((folder, job))
    return unfinished


def _holds_rows_of(conn: Any, dataset: str, table: str, load_id: str) -> bool:
    """True when `dataset.table` exists and holds a row of `load_id`."""
    from psycopg import sql

    if not table_exists(conn, dataset, table):
        return False
    (held,) = conn.execute(sql.SQL("select exists (select 1 from {} where _dlt_load_id = %s)")
                           .format(sql.Identifier(dataset, table)), (load_id,)).fetchone()
    return bool(held)
