import dagster as dg

from eudr_pipeline.layers.source_directory import source_path
from eudr_pipeline.layers.store import LayerStore


class LayerStoreResource(dg.ConfigurableResource):
    """Where layer versions come from (a layer source directory: a path or URI) and where
    they are kept (the versioned store: a folder, or an s3:// URI whose working copies go
    to ``cache_dir``). Configured once when the definitions are built."""

    sources: str
    store_dir: str
    cache_dir: str = ""

    def source_dir(self):
        return source_path(self.sources)

    def store(self) -> LayerStore:
        from pathlib import Path

        return LayerStore(self.store_dir, Path(self.cache_dir) if self.cache_dir else None)
