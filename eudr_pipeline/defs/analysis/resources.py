import dagster as dg

from eudr_pipeline.config import Settings
from eudr_pipeline.core.analysis import AnalysisOptions
from eudr_pipeline.core.risk import RiskRule
from eudr_pipeline.service.state import ServiceState


class ServiceStateResource(dg.ConfigurableResource):
    """The service's shared state: the job database (one engine per process), the results
    folder ($data_dir/results) and the public base URL of image links."""

    data_dir: str
    database_url: str
    public_url: str

    def state(self) -> ServiceState:
        from pathlib import Path

        return ServiceState(Settings(data_dir=Path(self.data_dir), database_url=self.database_url,
                                     public_url=self.public_url))


class AnalysisOptionsResource(dg.ConfigurableResource):
    """The tunables of the analysis (canopy threshold, risk rule, batch size)."""

    canopy_threshold: int
    risk_high_loss_ha: float
    risk_high_loss_pct: float
    risk_medium_loss_ha: float
    risk_medium_loss_pct: float
    risk_medium_if_prohibited_protected_area: bool
    batch_cells: int

    def options(self) -> AnalysisOptions:
        return AnalysisOptions(
            canopy_threshold=self.canopy_threshold,
            risk_rule=RiskRule(high_loss_ha=self.risk_high_loss_ha, high_loss_pct=self.risk_high_loss_pct,
                               medium_loss_ha=self.risk_medium_loss_ha, medium_loss_pct=self.risk_medium_loss_pct,
                               medium_if_prohibited_protected_area=self.risk_medium_if_prohibited_protected_area),
            batch_cells=self.batch_cells,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "AnalysisOptionsResource":
        o = settings.analysis_options()
        r = o.risk_rule
        return cls(canopy_threshold=o.canopy_threshold, risk_high_loss_ha=r.high_loss_ha,
                   risk_high_loss_pct=r.high_loss_pct, risk_medium_loss_ha=r.medium_loss_ha,
                   risk_medium_loss_pct=r.medium_loss_pct,
                   risk_medium_if_prohibited_protected_area=r.medium_if_prohibited_protected_area,
                   batch_cells=o.batch_cells)
