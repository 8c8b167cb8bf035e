"""All settings in one typed place. Every field can be set by an ``EUDR_<NAME>``
environment variable (e.g. ``EUDR_DATA_DIR``, ``EUDR_CANOPY_THRESHOLD``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from eudr_pipeline.core.analysis import AnalysisOptions
from eudr_pipeline.core.risk import RiskRule


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EUDR_", extra="ignore")

    data_dir: Path = Path(".eudr-data")
    """Everything the deployment writes (demo data, results, stores)."""
    layer_sources: Path | None = None
    """The layer source directory to analyse/ingest; default: the generated demo layers."""
    canopy_threshold: int = 10
    """Hansen series: loss counts only where treecover2000 > this (%)."""
    risk_high_loss_ha: float = 1.0
    risk_high_loss_pct: float = 15.0
    risk_medium_loss_ha: float = 0.5
    risk_medium_loss_pct: float = 10.0
    risk_medium_if_prohibited_protected_area: bool = True
    batch_cells: int = 4_000_000
    """Fine-grid window cells per analysis batch (about 60 bytes of memory each)."""

    def demo_dir(self) -> Path:
        return self.data_dir / "demo"

    def analysis_options(self) -> AnalysisOptions:
        return AnalysisOptions(
            canopy_threshold=self.canopy_threshold,
            risk_rule=RiskRule(
                high_loss_ha=self.risk_high_loss_ha,
                high_loss_pct=self.risk_high_loss_pct,
                medium_loss_ha=self.risk_medium_loss_ha,
                medium_loss_pct=self.risk_medium_loss_pct,
                medium_if_prohibited_protected_area=self.risk_medium_if_prohibited_protected_area,
            ),
            batch_cells=self.batch_cells,
        )


def get_settings() -> Settings:
    return Settings()
