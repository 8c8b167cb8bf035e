"""The Dagster code location: every domain's definitions merged, with the resources
configured once from one Settings object.

Loaded lazily (``@dg.definitions``): the settings are read when Dagster loads the code
location, not when a module is imported. We merge the domains explicitly rather than
autoloading a ``defs`` folder because two definitions take values from the settings
(the schedule's cron, the sensor's attempt limit) and the resources must be built from
the same Settings; tests call ``build_definitions`` with their own."""

import os

import dagster as dg

from eudr_pipeline.config import Settings


def from_environment(variable: str, value: str) -> str | dg.EnvVar:
    """``dg.EnvVar(variable)`` when ``value`` came from that variable (Dagster then shows
    the variable's name, never its value, e.g. a password in a URL), else ``value``."""
    return dg.EnvVar(variable) if os.environ.get(variable) == value else value


def build_resources(settings: Settings) -> dict:
    """The resources of every domain, configured from ``settings``."""
    from eudr_pipeline.defs.analysis.resources import AnalysisOptionsResource, ServiceStateResource
    from eudr_pipeline.defs.layers.resources import LayerStoreResource

    return {
        "layer_store": LayerStoreResource(sources=from_environment("EUDR_LAYER_SOURCES", settings.resolved_layer_sources()),
                                          store_dir=settings.layer_store_uri(),
                                          cache_dir=str(settings.layer_store_cache_dir())),
        "service": ServiceStateResource(data_dir=str(settings.data_dir),
                                        database_url=from_environment("EUDR_DATABASE_URL", settings.resolved_database_url()),
                                        public_url=settings.base_url(), object_store=settings.object_store),
        "analysis_options": AnalysisOptionsResource.from_settings(settings),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every domain's definitions. The domains are imported here, not at the top: their
    layer assets are built, on first import, from the dataset registry in force."""
    from eudr_pipeline.defs.analysis.definitions import analysis_definitions
    from eudr_pipeline.defs.layers.definitions import layer_definitions
    from eudr_pipeline.defs.operations.definitions import operations_definitions
    from eudr_pipeline.defs.submissions.definitions import submission_definitions

    return dg.Definitions.merge(
        layer_definitions(settings),
        analysis_definitions(),
        submission_definitions(settings),
        operations_definitions(settings),
        dg.Definitions(resources=build_resources(settings)),
    )


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    settings.apply_registry()  # before the domains build their assets from the layers it declares
    settings.apply_object_store_env()  # GDAL's /vsis3/ on the server of AWS_ENDPOINT_URL
    return build_definitions(settings)
