"""The layer refresh: which layer versions in force in the source are not yet in the
store (``pending_versions``: what the Dagster schedule requests a run for), and ingesting
exactly those (``ingest_new_versions``: ``eudr layers ingest``). Inside Dagster the
`<layer>` assets ingest one version each through ``LayerStore.ingest``, which returns the
catalogued row of a version already stored (ingested outside Dagster) unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from eudr_pipeline.errors import LayerSourceError
from eudr_pipeline.layers.catalogue import LayerVersion
from eudr_pipeline.layers.reference_layers import ALL_LAYERS
from eudr_pipeline.layers.source_directory import as_source, current_version
from eudr_pipeline.layers.store import LayerStore


@dataclass
class IngestOutcome:
    """What the refresh did for one layer: ``row`` when a version was ingested (accepted
    or rejected), ``error`` when it could not be read, neither when there was nothing to do."""

    layer: str
    version: str | None
    row: LayerVersion | None = None
    error: str | None = None
    already_stored: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and (self.row is None or self.row.status == "ok")


def pending_versions(sources: Path | str, store: LayerStore, layers: Iterable[str] = ALL_LAYERS) -> dict[str, str]:
    """{layer: version} for each layer whose version in force is not catalogued."""
    src = as_source(sources)
    out = {}
    for layer in layers:
        v = current_version(src, layer)
        if v is not None and store.needs_ingest(layer, v):
            out[layer] = v
    return out


def ingest_new_versions(sources: Path | str, store: LayerStore,
                        layers: Iterable[str] = ALL_LAYERS) -> list[IngestOutcome]:
    """Ingest the version in force of each of ``layers`` that the store lacks; one
    outcome per layer. A version that cannot be read is reported, the others go on."""
    src = as_source(sources)
    layers = list(layers)
    pending = pending_versions(src, store, layers)
    outcomes = []
    for layer in layers:
        if layer not in pending:
            version = current_version(src, layer)
            outcomes.append(IngestOutcome(layer, version, already_stored=version is not None))
            continue
        try:
            outcomes.append(IngestOutcome(layer, pending[layer], row=store.ingest(src, layer, pending[layer])))
        except LayerSourceError as exc:
            outcomes.append(IngestOutcome(layer, pending[layer], error=str(exc)))
    return outcomes
