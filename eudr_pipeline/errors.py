"""The project's exceptions: one family under ``EudrError``.

Each class also inherits the builtin that matches its meaning (as rasterio's
``errors.py`` does), so callers may catch ``ValueError`` or ``LookupError`` where that
reads better, and the API maps the whole family to HTTP status codes in one place
(``service/app.py``). Every message says what is wrong and where (file, feature, field).

    EudrError
     +-- SettingsError (ValueError)          an EUDR_* variable that does not parse
     +-- PlotInputError (ValueError)         a plot or plots file that cannot be used
     |    +-- GeometryError                  invalid geometry (ring, coordinate, type...)
     |    +-- IntakeError                    invalid properties (date, commodity...)
     |    +-- PlotsFileError                 a plots file that is not GeoJSON features
     +-- LayerSourceError (ValueError)       a layer source folder or file is unusable
     |    +-- RasterLayerError               a raster tile unreadable, mis-projected, off-grid
     |    +-- IngestError                    a layer version that cannot be ingested
 |    +-- FetchError                     a layer download that cannot be planned (area, dataset, publisher)
     +-- CatalogueBusy (TimeoutError)        the DuckDB catalogue stayed locked
     +-- ObjectStoreError (OSError)          the results/layer object store failed (URI, network, access)
     |    +-- ObjectNotFound (FileNotFoundError)  no object under that key
     +-- RequestInvalid (ValueError)         a request body with problems: 400
     +-- NotFound (LookupError)              no such object for this user: 404
     +-- AuthenticationFailed (PermissionError)  missing/bad credentials or token: 401
     +-- InsufficientTokens                  the job costs more than the free tokens: 402
     +-- TooManyAttempts                     repeated failed logins: 429 with Retry-After
"""

from __future__ import annotations

from typing import Any


def shown(value: Any, limit: int = 40) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters: a message names what is
    wrong without echoing a client's megabyte back."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 10]}... ({len(text):,} characters)"


class EudrError(Exception):
    """Root of every error this project raises on purpose."""


class SettingsError(EudrError, ValueError):
    """An EUDR_* environment variable has a value of the wrong type."""


class PlotInputError(EudrError, ValueError):
    """A plot, or a file of plots, that cannot be analysed as given."""


class GeometryError(PlotInputError):
    """An invalid plot geometry; the message says what is wrong and where."""


class IntakeError(PlotInputError):
    """A plot's properties are unusable (bad date, unknown commodity)."""


class PlotsFileError(PlotInputError):
    """A plots file that cannot be read as GeoJSON features."""


class LayerSourceError(EudrError, ValueError):
    """A layer source directory or one of its files is unusable; the message names it."""


class RasterLayerError(LayerSourceError):
    """A raster tile that cannot be used (unreadable, not EPSG:4326, rotated, off the grid)."""


class IngestError(LayerSourceError):
    """A layer version cannot be ingested; the message names the file and the reason."""


class FetchError(LayerSourceError):
    """A layer download (``eudr layers fetch``/``add``) that cannot be planned or placed: a
    bad area or dataset name, a publisher's list or release that is not there; the message
    names the publisher, URL or file."""


class CatalogueBusy(EudrError, TimeoutError):
    """Another process kept the layer catalogue file locked for longer than the wait."""


class ObjectStoreError(EudrError, OSError):
    """The object store of results and layers (object_store.py) cannot be used or failed:
    an unsupported URI, a network or permission error; the message names the URI."""


class ObjectNotFound(ObjectStoreError, FileNotFoundError):
    """No object under that key in the object store; the message names its URI."""


class RequestInvalid(EudrError, ValueError):
    """A request with problems; ``errors`` lists each as {"loc": [...], "msg": "..."}.
    Nothing was stored."""

    def __init__(self, errors: list[dict[str, Any]], detail: str = "invalid request") -> None:
        super().__init__(detail)
        self.errors = errors
        self.detail = detail


class NotFound(EudrError, LookupError):
    """No such plot, job or image for this user (another user's objects included)."""


class AuthenticationFailed(EudrError, PermissionError):
    """Missing, malformed, expired or forged credentials. ``scheme`` is the challenge
    (Basic or Bearer) the client should answer."""

    def __init__(self, detail: str, scheme: str = "Bearer") -> None:
        super().__init__(detail)
        self.scheme = scheme


class TooManyAttempts(EudrError):
    """Too many failed logins for a username or from an address: 429 with Retry-After."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many failed logins; try again in {max(1, round(retry_after_s))} s")
        self.retry_after_s = retry_after_s


class InsufficientTokens(EudrError):
    """The job costs more tokens than the user has free."""

    def __init__(self, needed: int, free: int) -> None:
        super().__init__(f"the job costs {needed} tokens but only {free} are free")
        self.needed, self.free = needed, free
