from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

FIXTURES = Path(__file__).parent / "fixtures"


def write_tif(path: Path, data: np.ndarray, x0: float, y0: float, dx: float, dy: float | None = None,
              nodata=None, crs: str = "EPSG:4326") -> Path:
    """A north-up GeoTIFF with its top-left corner at (x0, y0) degrees."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dy = dx if dy is None else dy
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
                       dtype=str(data.dtype), crs=crs, transform=Affine(dx, 0.0, x0, 0.0, -dy, y0), nodata=nodata,
                       compress="deflate") as dst:
        dst.write(data, 1)
    return path


def box_feature(w: float, s: float, e: float, n: float, holes=(), **props) -> dict:
    ring = lambda a, b, c, d: [[a, b], [c, b], [c, d], [a, d], [a, b]]  # noqa: E731
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [ring(w, s, e, n)] + [ring(*h)[::-1] for h in holes]}}


@pytest.fixture
def end_2024() -> dt.date:
    return dt.date(2024, 12, 31)


def service_state(settings):
    """A ServiceState on ``settings`` with its job database upgraded, as a deployment has it."""
    from eudr_pipeline.service.deploy import upgrade_job_database
    from eudr_pipeline.service.state import ServiceState

    upgrade_job_database(settings)
    return ServiceState(settings)


def submit_job_as(state, username: str, plot_ids: list[str], checks: list[dict] | None = None,
                  dry_run: bool = False) -> str:
    """Submit a job the way POST /jobs/make_job does (validation, then one transaction)."""
    from eudr_pipeline.service.job_requests import validate_job_request
    from eudr_pipeline.service.jobs import submit_job
    from eudr_pipeline.service.schemas import MakeJobRequest

    request = validate_job_request(MakeJobRequest(plot_ids=plot_ids, checks=checks), username, state.plots)
    return submit_job(state, username, request, dry_run)
