import dagster as dg

from eudr_pipeline.config import get_settings
from eudr_pipeline.layers.store import LayerStore


class LayerStoreResource(dg.ConfigurableResource):
    """Where layer versions come from (a layer source directory) and where they are kept
    (the versioned store). Empty fields take EUDR_LAYER_SOURCES / EUDR_DATA_DIR/layers."""

    sources: str = ""
    store_dir: str = ""

    def source_dir(self):
        from eudr_pipeline.layers.source_directory import source_path

        return source_path(self.sources) if self.sources else source_path(get_settings().resolved_layer_sources())

    def store(self) -> LayerStore:
        from pathlib import Path

        return LayerStore(Path(self.store_dir) if self.store_dir else get_settings().layer_store_dir())
