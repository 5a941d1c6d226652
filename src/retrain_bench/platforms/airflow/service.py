"""The Airflow session service: one metadata database migrated for the session, copied by every round.

``airflow db migrate`` takes about 5 s; a copy of its result takes milliseconds, so each round's
launcher gets a database of its own at no cost inside its timer, and rounds stay independent.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from retrain_bench.platforms import groups
from retrain_bench.platforms.airflow import settings
from retrain_bench.platforms.definition import ServiceContext

MIGRATE_TIMEOUT_S = 600.0


@contextlib.contextmanager
def template_database(context: ServiceContext) -> Iterator[Mapping[str, str]]:
    """Migrate a metadata database under ``context.home``; yield where it is for the launchers."""
    home = context.home / "airflow-home"
    home.mkdir()
    log = context.home / "airflow-db-migrate.log"
    context.progress("[retrain-bench] airflow: migrating the session's template metadata database")
    seconds = groups.run(
        [context.python, "-m", "airflow", "db", "migrate"],
        {**os.environ, **settings.variables(home)},
        log,
        MIGRATE_TIMEOUT_S,
        "airflow db migrate (the session's template metadata database)",
    )
    context.progress(f"[retrain-bench] airflow: template metadata database migrated in {seconds:.1f} s")
    yield {settings.TEMPLATE_DB_VARIABLE: str(home / settings.DB_NAME)}
