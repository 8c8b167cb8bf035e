import dagster as dg

from eudr_pipeline.config import get_settings
from eudr_pipeline.service.state import ServiceState


class JobStoreResource(dg.ConfigurableResource):
    """The shared service database (EUDR_DATABASE_URL; default SQLite under EUDR_DATA_DIR)
    and the results folder."""

    database_url: str = ""

    def state(self) -> ServiceState:
        settings = get_settings()
        if self.database_url:
            import dataclasses

            settings = dataclasses.replace(settings, database_url=self.database_url)
        return ServiceState(settings)


class ResultsDirResource(dg.ConfigurableResource):
    """Where job results (GeoParquet, one file per analysis run) are written."""

    path: str = ""

    def root(self):
        from pathlib import Path

        return Path(self.path) if self.path else get_settings().data_dir / "results"
