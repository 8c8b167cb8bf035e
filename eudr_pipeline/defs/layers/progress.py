"""Following a `layer_refresh` run from outside it (``make serve``, ``eudr layers refresh``):
the run's events in the Dagster instance turned into one line per layer as it is ingested.

A layer's **ingestion step** is the step of the `<layer>` asset. Its version is the data
version the run observed for `<layer>_source` just before. The step ends one of three
ways: a materialization (the version was ingested: "done in 3.2 s"), success without one
(the version was already in the store), or a failure (its message: unreadable, rejected)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import dagster as dg

from eudr_pipeline.layers.reference_layers import ALL_LAYERS

EVENTS = {dg.DagsterEventType.ASSET_OBSERVATION, dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
          dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_MATERIALIZATION,
          dg.DagsterEventType.ASSET_CHECK_EVALUATION}
ENDED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
SOURCE_SUFFIX = "_source"


def failure_message(event: dg.DagsterEvent) -> str:
    """The first line of a failed step's reason (a dg.Failure's description, else its error)."""
    data = event.step_failure_data
    text = (data.user_failure_data.description if data.user_failure_data and data.user_failure_data.description
            else data.error.message if data.error else "failed")
    return text.strip().splitlines()[0] if text.strip() else "failed"


@dataclass
class RefreshProgress:
    """What one `layer_refresh` run has shown so far, and the lines it gives."""

    versions: dict[str, str] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    ingested: set[str] = field(default_factory=set)
    open_line: str | None = None
    """The layer whose "ingesting..." line waits for its end (steps run one at a time)."""

    def label(self, layer: str) -> str:
        version = self.versions.get(layer)
        return f"{layer} {version}" if version else layer

    def lines(self, record: dg.EventLogRecord) -> list[str]:
        """The text ``record`` adds: a line start ending in "..." (no newline) when an
        ingestion step starts, the rest of the line when it ends."""
        event = record.event_log_entry.dagster_event
        if event is None:
            return []
        if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
            self._observed(record)
            return []
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            detail = evaluation.metadata.get("detail")
            return [] if evaluation.passed else self.close(
                None, f"{evaluation.asset_key.path[-1]} check {evaluation.check_name} failed"
                      + (f": {detail.value}" if detail is not None else ""))
        return self._step(record, event)

    def _observed(self, record: dg.EventLogRecord) -> None:
        """Note the version the run observed for `<layer>_source`."""
        name = record.asset_key.path[-1] if record.asset_key is not None else ""
        version = record.asset_observation.tags.get("dagster/data_version")
        if name.endswith(SOURCE_SUFFIX) and version:
            self.versions[name.removesuffix(SOURCE_SUFFIX)] = version

    def _step(self, record: dg.EventLogRecord, event: dg.DagsterEvent) -> list[str]:
        """The text of a step event: an ingestion step's start and end, a source's failure."""
        kind, step = event.event_type, event.step_key or ""
        source_of = step.removesuffix(SOURCE_SUFFIX) if step.endswith(SOURCE_SUFFIX) else None
        if kind == dg.DagsterEventType.STEP_FAILURE and source_of in ALL_LAYERS:
            return self.close(None, f"{source_of}: cannot observe the source: {failure_message(event)}")
        if step not in ALL_LAYERS:
            return []
        if kind == dg.DagsterEventType.STEP_START:
            self.started[step] = record.timestamp
            out = self.close(None, None)
            self.open_line = step
            return out + [f"{self.label(step)}: ingesting..."]
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            self.ingested.add(step)
            return []
        took = record.timestamp - self.started.get(step, record.timestamp)
        if kind == dg.DagsterEventType.STEP_FAILURE:
            return self.close(step, f"failed after {took:.1f} s: {failure_message(event)}")
        if kind == dg.DagsterEventType.STEP_SUCCESS:
            return self.close(step, f"done in {took:.1f} s" if step in self.ingested else "already in the store")
        return []

    def close(self, layer: str | None, text: str | None) -> list[str]:
        """Finish the open line with ``text`` when it is ``layer``'s; otherwise close it and
        give ``text`` a line of its own."""
        out = []
        if self.open_line is not None and self.open_line == layer:
            out.append(f" {text}\n")
            self.open_line = None
            return out
        if self.open_line is not None:
            out.append("\n")
            self.open_line = None
        if text is not None:
            out.append(f"{self.label(layer)}: {text}\n" if layer else f"{text}\n")
        return out


def follow_refresh(instance: dg.DagsterInstance, run_id: str, write: Callable[[str], None],
                   keep_going: Callable[[], bool] = lambda: True, interval: float = 0.5) -> dg.DagsterRunStatus | None:
    """Write the progress of run ``run_id`` as it happens (``write`` gets text pieces) until
    the run ends; its final status, or None when ``keep_going`` said stop first."""
    progress, cursor, said_queued = RefreshProgress(), None, False
    while True:
        run = instance.get_run_by_id(run_id)
        status = run.status if run is not None else None
        if status == dg.DagsterRunStatus.QUEUED and not said_queued:
            write("layer_refresh: queued, waiting for the daemon's run queue\n")
            said_queued = True
        page = instance.get_records_for_run(run_id, cursor=cursor, of_type=EVENTS)
        cursor = page.cursor
        for record in page.records:
            for text in progress.lines(record):
                write(text)
        if status in ENDED and not page.has_more:
            for text in progress.close(None, None):
                write(text)
            return status
        if not keep_going():
            return None
        if not page.has_more:
            time.sleep(interval)
