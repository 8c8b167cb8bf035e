"""What a job costs in tokens, and how long it is expected to take."""

from __future__ import annotations

import math

# seconds per plot and fixed overhead, for estimated_duration (measured: bench/bench_service.py)
EST_FIXED_S = 6.0
EST_PER_PLOT_S = 0.004


def plot_cost(area_ha: float, check_types: list[str]) -> int:
    """Tokens for one plot: the eudr check costs 1 token per started 10 ha (at least 1);
    the protected-area and indigenous-land checks 1 token each."""
    return sum(max(1, math.ceil(area_ha / 10.0)) if t == "eudr" else 1 for t in check_types)


def plot_costs(check_types: list[str], plot_areas: dict[str, float]) -> dict[str, int]:
    """Tokens per plot id for plots of ``plot_areas`` (ha) under ``check_types``."""
    return {pid: plot_cost(area, check_types) for pid, area in plot_areas.items()}


def estimated_duration_s(plot_count: int) -> int:
    """Seconds from submission to done for a job of ``plot_count`` plots."""
    return int(math.ceil(EST_FIXED_S + EST_PER_PLOT_S * plot_count))
