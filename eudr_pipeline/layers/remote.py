"""Layer sources behind a URI (https://, s3://, gs://, ...): the small part of the
pathlib API the source reader uses, on fsspec for listing and reading, with GDAL's /vsi
paths for rasters (read by window, never downloaded whole)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterator

from eudr_pipeline.errors import LayerSourceError

VSI_PREFIX = {"http": "/vsicurl/", "https": "/vsicurl/", "s3": "/vsis3/", "gs": "/vsigs/", "gcs": "/vsigs/",
              "az": "/vsiaz/", "abfs": "/vsiaz/"}


class RemotePath:
    """A file or folder of a remote layer source."""

    def __init__(self, uri: str, fs=None, is_dir_hint: bool | None = None) -> None:
        import fsspec

        self.uri = uri.rstrip("/") if not uri.endswith("://") else uri
        self.protocol = uri.split("://", 1)[0]
        self.fs = fs or fsspec.core.url_to_fs(uri)[0]
        self._is_dir = is_dir_hint

    def __truediv__(self, part: str) -> "RemotePath":
        return RemotePath(f"{self.uri}/{part}", self.fs)

    def __str__(self) -> str:
        return self.uri

    __fspath__ = None  # not a local path

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        name = self.name
        return "." + name.rsplit(".", 1)[-1] if "." in name else ""

    def _key(self) -> str:
        return self.uri if self.protocol in ("http", "https") else self.uri.split("://", 1)[1]

    def is_dir(self) -> bool:
        if self._is_dir is not None:
            return self._is_dir
        try:
            return bool(self.fs.isdir(self._key() + ("/" if self.protocol in ("http", "https") else "")))
        except (FileNotFoundError, OSError):
            return False

    def is_file(self) -> bool:
        if self._is_dir is not None:
            return not self._is_dir
        try:
            return bool(self.fs.isfile(self._key()))
        except (FileNotFoundError, OSError):
            return False

    def exists(self) -> bool:
        return self.is_dir() or self.is_file()

    def _child(self, name: str, kind: str) -> "RemotePath":
        base = name.rstrip("/")
        if "://" not in base:
            base = f"{self.protocol}://{base}"
        return RemotePath(base, self.fs, is_dir_hint=kind == "directory")

    def iterdir(self) -> Iterator["RemotePath"]:
        key = self._key() + ("/" if self.protocol in ("http", "https") else "")
        for e in self.fs.ls(key, detail=True):
            child = self._child(e["name"], e.get("type", "file"))
            if child.uri.rstrip("/") != self.uri.rstrip("/"):
                yield child

    def rglob(self, pattern: str = "*") -> Iterator["RemotePath"]:
        for entry in self.iterdir():
            yield entry
            if entry.is_dir():
                yield from entry.rglob(pattern)

    def relative_to(self, other: "RemotePath") -> str:
        return self.uri[len(str(other).rstrip("/")) + 1:]

    def read_bytes(self) -> bytes:
        with self.fs.open(self._key(), "rb") as fh:
            return fh.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open(self, mode: str = "r", newline: str | None = None, encoding: str = "utf-8"):
        data = self.read_bytes()
        return io.BytesIO(data) if "b" in mode else io.StringIO(data.decode(encoding), newline=newline)

    @property
    def gdal_path(self) -> str:
        prefix = VSI_PREFIX.get(self.protocol)
        if prefix is None:
            raise LayerSourceError(f"{self.uri}: GDAL cannot read {self.protocol}:// (supported: {', '.join(VSI_PREFIX)})")
        return prefix + (self.uri if prefix == "/vsicurl/" else self.uri.split("://", 1)[1])


def gdal_path(p) -> str:
    """The path GDAL/rasterio opens for a local Path or a RemotePath."""
    return p.gdal_path if isinstance(p, RemotePath) else str(p)


def files_in(folder: Path, suffixes: tuple[str, ...], pattern: str | None = None) -> list[Path]:
    """Files under ``folder`` (recursively, sorted) with one of ``suffixes`` whose name
    matches ``pattern`` (a regular expression, case-insensitive)."""
    out = []
    for p in sorted(folder.rglob("*"), key=str):
        if p.is_file() and p.suffix.lower() in suffixes and (pattern is None or re.search(pattern, p.name, re.I)):
            out.append(p)
    return out
