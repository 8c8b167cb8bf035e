import dagster as dg

from eudr_pipeline.config import get_settings
from eudr_pipeline.service.jobs import JobStore


class JobStoreResource(dg.ConfigurableResource):
    """The shared job database (EUDR_DATABASE_URL; default SQLite under EUDR_DATA_DIR)."""

    database_url: str = ""

    def store(self) -> JobStore:
        return JobStore(self.database_url or get_settings().resolved_database_url())


class ResultsDirResource(dg.ConfigurableResource):
    """Where job results (GeoParquet, one file per analysis run) are written."""

    path: str = ""

    def root(self):
        from pathlib import Path

        return Path(self.path) if self.path else get_settings().data_dir / "results"
