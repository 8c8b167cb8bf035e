import dagster as dg

from eudr_pipeline.config import Settings
from eudr_pipeline.core.analysis import AnalysisOptions
from eudr_pipeline.service.state import ServiceState


class ServiceStateResource(dg.ConfigurableResource):
    """The service's shared state: the job database (one engine per process), the results
    store ($data_dir/results, or <object_store>/results with its working copy there) and
    the public base URL of image links."""

    data_dir: str
    database_url: str
    public_url: str
    object_store: str = ""

    def state(self) -> ServiceState:
        from pathlib import Path

        return ServiceState(Settings(data_dir=Path(self.data_dir), database_url=self.database_url,
                                     public_url=self.public_url, object_store=self.object_store))


class AnalysisOptionsResource(dg.ConfigurableResource):
    """The tunables of the analysis (canopy threshold, risk rule, batch size)."""

    canopy_threshold: int
    risk_high_loss_ha: float
    risk_high_loss_pct: float
    risk_medium_loss_ha: float
    risk_medium_loss_pct: float
    risk_medium_if_prohibited_protected_area: bool
    batch_cells: int
    risk_rules: str = "eudr"
    risk_rules_file: str = ""

    def options(self) -> AnalysisOptions:
        return Settings(**self.model_dump()).analysis_options()  # the one place options are built

    @classmethod
    def from_settings(cls, settings: Settings) -> "AnalysisOptionsResource":
        return cls(**{name: getattr(settings, name) or "" if name == "risk_rules_file" else getattr(settings, name)
                      for name in cls.model_fields})
