"""All settings in one typed place. Every field can be set by an ``EUDR_<FIELD>``
environment variable (e.g. ``EUDR_DATA_DIR``, ``EUDR_CANOPY_THRESHOLD``); a value that does
not parse as the field's type is an error naming the variable.

Settings are read once per process, where the process starts (``eudr`` in ``cli.main``,
the Dagster code location in ``definitions.py``), and handed down from there; no module
reads the environment on its own."""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from eudr_pipeline.core.analysis import AnalysisOptions
from eudr_pipeline.core.risk import CommodityRules, RiskRule, commodity_rules_from
from eudr_pipeline.errors import SettingsError


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".eudr-data")
    """Everything the deployment writes (demo data, results, stores)."""
    layer_sources: str | None = None
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
    database_url: str = ""
    """SQLAlchemy URL of the shared state; default: SQLite (WAL) under EUDR_DATA_DIR."""
    jwt_secret: str = ""
    """HS256 secret of the API's tokens; default: a random one kept in EUDR_DATA_DIR."""
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = 2
    """API server processes (`eudr serve`) answering on one port: a request's CPU work
    (intake, a dry run) then never holds up reads in another process."""
    dagster_port: int = 3000
    public_url: str = ""
    """Base URL of image links in responses; default http://{api_host}:{api_port}."""
    max_concurrent_runs: int = 0
    """Runs in progress at once in the local deployment's Dagster instance (queued beyond);
    0: every run launched at once (DefaultRunCoordinator)."""
    max_run_attempts: int = 3
    """Runs launched for one job before it ends `incomplete`."""
    auto_reanalyse: bool = False
    """Automatic re-analysis: when a layer version supersedes one that jobs used, the
    `stale_jobs_sensor` runs `process_job` again for those jobs (no token charged). Off: the
    operator re-analyses with `eudr jobs reanalyse --stale` or starts the sensor in the UI."""
    layer_schedule_cron: str = "0 3 * * *"
    """When the layer refresh schedule looks for new layer versions (cron, UTC)."""
    layer_observe_minutes: int = 5
    """How often (minutes) the Dagster daemon observes the layer source directory
    (layer_observation_sensor), so that a new version folder shows in Dagster as a new data
    version of `<layer>_source` before it is ingested; 0: the sensor starts stopped."""
    layer_mirrors: str = ""
    """`eudr layers fetch`: publishers' base URLs replaced, as name=url,name=url (--mirror wins)."""
    risk_rules: str = "eudr"
    """eudr: the default rule for every plot; commodity: the decision trees per commodity
    group of data/risk_rules.toml (or EUDR_RISK_RULES_FILE) for the commodities they list."""
    risk_rules_file: str = ""
    """The operator's commodity rule sets (the form of data/risk_rules.toml)."""
    datasets_file: str = ""
    """An operator's dataset registry (TOML, the form of layers/datasets.toml): its datasets
    replace or add to the shipped ones. Read where the settings are read."""
    object_store: str = ""
    """Where job results and the layer store live: empty, under EUDR_DATA_DIR; or
    s3://bucket/prefix on S3 or an S3-compatible server (credentials, region and endpoint
    from the standard AWS_* variables, e.g. AWS_ENDPOINT_URL). EUDR_DATA_DIR then holds
    only a working copy (cache) of what this process reads and writes."""
    dagster_postgres_url: str = ""
    """The Dagster instance's storage (runs, event log, schedules) on PostgreSQL
    (postgresql://user:password@host:port/db); default: SQLite files under DAGSTER_HOME."""
    celery_broker_url: str = ""
    """When set (redis://host:port/0 or amqp://...), each run is a Celery task executed by
    a Celery worker (`eudr celery-worker`, dagster-celery's run launcher): the production
    profile, with dagster_postgres_url."""
    celery_workers: int = 2
    """Celery worker processes `eudr serve-all` starts when EUDR_CELERY_BROKER_URL is set."""

    def apply_registry(self) -> None:
        """Make the shipped registry plus ``datasets_file`` the one every module reads."""
        from eudr_pipeline.layers.reference_layers import use_registry
        from eudr_pipeline.layers.registry import load_registry

        use_registry(load_registry(self.datasets_file or None))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"EUDR_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(raw, f.type, f"EUDR_{f.name.upper()}")
        return cls(**values)

    def demo_dir(self) -> Path:
        """Where the generated demo layers and plots are written."""
        return self.data_dir / "demo"

    def resolved_database_url(self) -> str:
        """EUDR_DATABASE_URL, else SQLite (WAL) at $EUDR_DATA_DIR/eudr.sqlite."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'eudr.sqlite').resolve()}"

    def layer_store_dir(self) -> Path:
        """The versioned layer store (COG, GeoParquet, catalogue.duckdb)."""
        return self.data_dir / "layers"

    def results_dir(self) -> Path:
        """Job results: $EUDR_DATA_DIR/results/<job_id>/ (GeoParquet per run, images, response)."""
        return self.data_dir / "results"

    def layer_store_uri(self) -> str:
        """The layer store's root (object_store.py): <EUDR_OBJECT_STORE>/layers, else the
        folder layer_store_dir()."""
        return f"{self.object_store.rstrip('/')}/layers" if self.object_store else str(self.layer_store_dir())

    def layer_store_cache_dir(self) -> Path:
        """This process's working copies of an object-stored layer store (its catalogue;
        ingestion's staging): $EUDR_DATA_DIR/cache/layers. Layer files are read in place."""
        return self.data_dir / "cache" / "layers"

    def results_uri(self) -> str:
        """Job results' root (object_store.py): <EUDR_OBJECT_STORE>/results, else the folder
        results_dir(), which is also the working copy of object-stored results."""
        return f"{self.object_store.rstrip('/')}/results" if self.object_store else str(self.results_dir())

    def apply_object_store_env(self) -> None:
        """Point GDAL's /vsis3/ at the S3-compatible server of AWS_ENDPOINT_URL (which
        botocore and s3fs read themselves): AWS_S3_ENDPOINT, AWS_HTTPS, AWS_VIRTUAL_HOSTING
        derived into the environment where not set (object_store.gdal_s3_env), so rasterio
        opens /vsis3/bucket/key on the same server. Applied where the settings are read."""
        from eudr_pipeline.object_store import gdal_s3_env

        os.environ.update(gdal_s3_env(os.environ))

    def base_url(self) -> str:
        """Where the API answers: the base of image URLs in responses."""
        return self.public_url or f"http://{self.api_host}:{self.api_port}"

    def resolved_layer_sources(self) -> str:
        """EUDR_LAYER_SOURCES (a path or file:// URI), else the demo layers (generated on
        first use, and again when a layer was added to them since: they are deterministic)."""
        if self.layer_sources:
            return self.layer_sources
        from eudr_pipeline.demo import write_demo_sources
        from eudr_pipeline.layers.reference_layers import BUILTIN_LAYERS

        sources = self.demo_dir() / "sources"
        if not all((sources / layer).is_dir() for layer in BUILTIN_LAYERS):
            write_demo_sources(sources)
        return str(sources)

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
            commodity_rules=self.commodity_rules(),
        )

    def commodity_rules(self) -> CommodityRules | None:
        """The commodity rule sets when EUDR_RISK_RULES=commodity (shipped, or the operator's
        EUDR_RISK_RULES_FILE), else None (the default rule)."""
        if self.risk_rules not in ("eudr", "commodity"):
            raise SettingsError(f"EUDR_RISK_RULES={self.risk_rules!r}: eudr or commodity")
        if self.risk_rules == "eudr":
            return None
        return load_commodity_rules(Path(self.risk_rules_file) if self.risk_rules_file else DEFAULT_RISK_RULES)


DEFAULT_RISK_RULES = Path(__file__).with_name("data") / "risk_rules.toml"


@functools.cache
def load_commodity_rules(path: Path) -> CommodityRules:
    """The commodity rule sets of a TOML file (data/risk_rules.toml's form), read once."""
    import tomllib

    try:
        return commodity_rules_from(tomllib.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SettingsError(f"risk rules {path}: {exc}") from exc


def _parse(raw: str, type_name: Any, var: str) -> Any:
    t = str(type_name)
    try:
        if t.startswith("str"):
            return raw or None
        if t.startswith("Path"):
            return Path(raw) if raw else None
        if t == "int":
            return int(raw)
        if t == "float":
            return float(raw)
        if t == "bool":
            if raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if raw.strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise SettingsError(f"{var}={raw!r} is not a valid {t}") from None
    return raw

