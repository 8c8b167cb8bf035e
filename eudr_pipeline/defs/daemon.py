"""The deployment's Dagster daemon: ``dagster-daemon`` with the sensor daemon's loop at
SENSOR_LOOP_S seconds instead of Dagster's fixed 5.

    python -m eudr_pipeline.defs.daemon run -w <workspace.yaml>     # as `dagster-daemon run`

Why: a submitted job waits for the job sensor's next evaluation. Dagster 1.13 evaluates
sensors in a loop that sleeps until each iteration has taken ``MIN_INTERVAL_LOOP_TIME``
(5 s, dagster/_daemon/sensor.py, with no setting), so a job waited 2.5 s on average, and
up to 5 s, before its run was requested: more than half of a 1-plot job's time from
make_job to ``done`` (BENCHMARKS.md). Each sensor's ``minimum_interval_seconds`` still
spaces its own evaluations (the job sensor every JOB_SENSOR_INTERVAL_S, the automation
sensors every 10 and 30 s, the layer observation sensor every few minutes); an iteration
that finds no sensor due reads the sensors' states and does nothing else.

Dagster's own entry point runs unchanged otherwise. If a Dagster upgrade drops the
constant, the daemon refuses to start (rather than quietly waiting 5 s again)."""

from __future__ import annotations

SENSOR_LOOP_S = 0.5
"""How long an iteration of the sensor daemon's loop lasts at least (seconds)."""


def shorten_sensor_loop(seconds: float = SENSOR_LOOP_S) -> None:
    """Set the sensor daemon's loop time (the module global its loop reads each iteration)."""
    from dagster._daemon import sensor

    if not isinstance(getattr(sensor, "MIN_INTERVAL_LOOP_TIME", None), (int, float)):
        raise RuntimeError("dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME is gone (a Dagster upgrade?): "
                           "eudr_pipeline/defs/daemon.py needs another way to shorten the sensor loop")
    sensor.MIN_INTERVAL_LOOP_TIME = seconds


def main() -> None:
    from dagster._daemon.cli import cli as dagster_daemon

    shorten_sensor_loop()
    dagster_daemon.main(obj={}, prog_name="dagster-daemon")


if __name__ == "__main__":
    main()
