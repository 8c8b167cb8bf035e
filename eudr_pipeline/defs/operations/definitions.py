import dagster as dg

from eudr_pipeline.config import Settings
from eudr_pipeline.defs.operations.assets import stale_jobs_asset
from eudr_pipeline.defs.operations.jobs import reanalyse_job
from eudr_pipeline.defs.operations.sensors import build_stale_jobs_sensor, operations_automation_sensor


def operations_definitions(settings: Settings) -> dg.Definitions:
    """The `operations` group, what the operator looks after: the stale jobs (a table and
    a warning check), the sensor that keeps them current, the re-analysis job
    (``reanalyse_job``) and automatic re-analysis (``stale_jobs_sensor``, on when
    EUDR_AUTO_REANALYSE is true)."""
    return dg.Definitions(assets=[stale_jobs_asset], jobs=[reanalyse_job],
                          sensors=[operations_automation_sensor, build_stale_jobs_sensor(settings.auto_reanalyse)])
