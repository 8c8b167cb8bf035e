import dagster as dg

from eudr_pipeline.layers.source_directory import source_path
from eudr_pipeline.layers.store import LayerStore


class LayerStoreResource(dg.ConfigurableResource):
    """Where layer versions come from (a layer source directory: a path or URI) and where
    they are kept (the versioned store). Configured once when the definitions are built."""

    sources: str
    store_dir: str

    def source_dir(self):
        return source_path(self.sources)

    def store(self) -> LayerStore:
        from pathlib import Path

        return LayerStore(Path(self.store_dir))
