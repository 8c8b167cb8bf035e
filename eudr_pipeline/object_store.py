"""Where job results and the layer store keep their files: an object store rooted at a
URI, a folder of this machine or ``s3://bucket/prefix`` (S3 or an S3-compatible server),
behind one API on fsspec (its local filesystem, or s3fs).

A **key** names an object relative to the root: '/'-separated, relative, without '.' or
'..' parts, e.g. ``<job_id>/images/overview.png`` (results) or ``jrc_gfc2020/V3/tiles.json``
(layer store). Its URI is the root's URI, '/', the key. Keys with a part starting with a
dot are this module's own (staging folders, temporary files): ``list`` never shows them.

- **Local root** (a path, or file://): the store IS the folder. The working copy of a key
  is the file itself; ``put_bytes`` writes it whole (a temporary sibling, then a rename,
  files.py); ``publish_folder`` renames a staged folder into place, replacing an older
  copy; publishing a working copy is nothing.
- **s3:// root**: credentials, region and endpoint come from the standard AWS_* variables,
  which botocore reads itself (AWS_ENDPOINT_URL for an S3-compatible server). An object is
  written whole by one PUT, so a reader never sees half of one. Each process keeps
  **working copies** in a local folder (``work_dir``, under EUDR_DATA_DIR): a writer
  writes the working copy (programs such as GDAL and WeasyPrint need files) and uploads it;
  a reader downloads an object into its working copy, and again whenever the object's
  ETag or size changed since (a re-analysis rewrites a job's response.json and images).
  Beside each working copy a stamp ``.<name>.object`` records the ETag and size it was
  made from and the copy's own inode, mtime and size, so a copy that another process of
  this host replaced meanwhile is never taken for fresh.
- Rasters are never downloaded: GDAL reads them by window through ``gdal_path``
  (``/vsis3/bucket/key``; ``gdal_s3_env`` points GDAL at the same server as s3fs).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from eudr_pipeline.errors import ObjectNotFound, ObjectStoreError
from eudr_pipeline.files import write_atomic

STAMP_SUFFIX = ".object"  # the stamp beside a working copy: .<name>.object
GDAL_S3_VARIABLES = ("AWS_S3_ENDPOINT", "AWS_HTTPS", "AWS_VIRTUAL_HOSTING")


@dataclass(frozen=True)
class ObjectInfo:
    """One object: its key, size (bytes) and version: the ETag on S3, the file's
    modification time (ns) on a local root. A rewritten object has a new version."""

    key: str
    size: int
    version: str


def key_join(*parts: str) -> str:
    """The key of ``parts`` joined by '/' (empty parts skipped: ``key_join("", "a")`` is "a")."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def gdal_s3_env(env: Mapping[str, str]) -> dict[str, str]:
    """GDAL's /vsis3/ settings for the server of AWS_ENDPOINT_URL, which botocore and s3fs
    read but GDAL does not: AWS_S3_ENDPOINT (host[:port][/path]), AWS_HTTPS (NO for
    http://) and AWS_VIRTUAL_HOSTING (FALSE: path-style URLs, which S3-compatible servers
    answer); only those not set in ``env``. Empty without AWS_ENDPOINT_URL (AWS itself:
    GDAL's defaults)."""
    from urllib.parse import urlsplit

    endpoint = env.get("AWS_ENDPOINT_URL", "").strip()
    if not endpoint:
        return {}
    url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    derived = {"AWS_S3_ENDPOINT": url.netloc + url.path.rstrip("/"),
               "AWS_HTTPS": "NO" if url.scheme == "http" else "YES", "AWS_VIRTUAL_HOSTING": "FALSE"}
    return {k: v for k, v in derived.items() if not env.get(k)}


class ObjectStore:
    """The objects under ``root`` (a folder, or s3://bucket/prefix); ``work_dir``: this
    process's working copies of an s3:// root's objects (required there, unused locally)."""

    def __init__(self, root: str | Path, work_dir: Path | None = None) -> None:
        text = str(root)
        text = text[len("file://"):] if text.startswith("file://") else text
        self.work_dir = Path(work_dir) if work_dir is not None else None
        if "://" not in text:
            from fsspec.implementations.local import LocalFileSystem

            self.is_local, self.local_root, self.fs = True, Path(text), LocalFileSystem()
            return
        scheme, _, base = text.partition("://")
        if scheme != "s3" or not base.strip("/"):
            raise ObjectStoreError(f"object store {text}: expected a folder or s3://bucket[/prefix]")
        if self.work_dir is None:
            raise ObjectStoreError(f"object store {text}: an s3:// store needs a local working folder")
        import fsspec

        self.is_local, self.local_root, self._base = False, None, base.strip("/")
        with self._errors(text):  # one client per store: the endpoint is read from the environment now
            self.fs = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False)

    def __reduce__(self):  # to worker processes: rebuilt there from the root and the working folder
        return ObjectStore, (self.uri(), self.work_dir)

    def __repr__(self) -> str:
        return f"ObjectStore({self.uri()!r})"

    # ------------------------------------------------------------------ names

    @property
    def root(self):
        """The root as a path-like: a Path (local) or a RemotePath (s3://, layers/remote.py)."""
        if self.is_local:
            return self.local_root
        from eudr_pipeline.layers.remote import RemotePath

        return RemotePath(self.uri(), self.fs, is_dir_hint=True)

    def uri(self, key: str = "") -> str:
        """The URI of ``key`` (the root's for ""): a local path, or s3://bucket/prefix/key."""
        if self.is_local:
            return str(self.local_root / key) if key else str(self.local_root)
        return f"s3://{self._path(key)}"

    def key_of(self, uri: str) -> str | None:
        """The key of ``uri`` in this store ("" for the root), or None when it is outside."""
        if self.is_local:
            for a, b in ((Path(uri), self.local_root), (Path(uri).resolve(), self.local_root.resolve())):
                with contextlib.suppress(ValueError):
                    rel = a.relative_to(b).as_posix()
                    return "" if rel == "." else rel
            return None
        root, text = self.uri(), uri.rstrip("/")
        return "" if text == root else text[len(root) + 1:] if text.startswith(root + "/") else None

    def gdal_path(self, key: str) -> str:
        """The path GDAL opens ``key`` by (a local path, or /vsis3/bucket/prefix/key: read by
        window, never downloaded)."""
        from eudr_pipeline.layers.remote import RemotePath, gdal_path

        return str(self.local_root / key) if self.is_local else gdal_path(RemotePath(self.uri(key), self.fs))

    def fs_path(self, key: str) -> str:
        """``key`` as a path of ``self.fs`` (for libraries that take an fsspec filesystem)."""
        return str(self.local_root / key) if self.is_local else self._path(key)

    def local_path(self, key: str) -> Path:
        """Where the working copy of ``key`` lives: the object itself on a local root."""
        return (self.local_root if self.is_local else self.work_dir) / key

    def _path(self, key: str) -> str:
        return key_join(self._base, key)

    @contextlib.contextmanager
    def _errors(self, where: str) -> Iterator[None]:
        """Errors of the filesystem (or botocore) as ObjectStoreError naming ``where``."""
        try:
            yield
        except ObjectStoreError:
            raise
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"{where}: no such object") from exc
        except Exception as exc:
            if isinstance(exc, OSError) or type(exc).__module__.startswith(("botocore", "aiobotocore", "s3fs")):
                raise ObjectStoreError(f"{where}: {type(exc).__name__}: {exc}") from exc
            raise

    # ------------------------------------------------------------------ reading

    def info(self, key: str) -> ObjectInfo | None:
        """Size and version of ``key``, or None when there is no such object."""
        if self.is_local:
            try:
                st = (self.local_root / key).stat()
            except FileNotFoundError:
                return None
            return ObjectInfo(key, st.st_size, str(st.st_mtime_ns))
        try:
            with self._errors(self.uri(key)):
                found = self.fs.info(self._path(key))
        except ObjectNotFound:
            return None
        return None if found.get("type") != "file" else ObjectInfo(key, int(found["size"]), found.get("ETag", ""))

    def exists(self, key: str) -> bool:
        return self.info(key) is not None

    def list(self, folder: str = "") -> list[ObjectInfo]:
        """Every object under ``folder`` (a key prefix ending at a '/'), recursively, sorted
        by key; the module's own dot-files left out."""
        if self.is_local:
            return self._list_local(folder)
        base = self._path(folder)
        with self._errors(self.uri(folder)):
            found = self.fs.find(base, detail=True)
        out = []
        for name, d in found.items():
            key = name[len(self._base) + 1:]
            if name.startswith(base + "/") and d.get("type") == "file" and not _hidden(key):
                out.append(ObjectInfo(key, int(d["size"]), d.get("ETag", "")))
        return sorted(out, key=lambda i: i.key)

    def _list_local(self, folder: str) -> list[ObjectInfo]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.local_root / folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                with contextlib.suppress(FileNotFoundError):
                    st = path.stat()
                    out.append(ObjectInfo(path.relative_to(self.local_root).as_posix(), st.st_size, str(st.st_mtime_ns)))
        return sorted(out, key=lambda i: i.key)

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes, read now (ObjectNotFound when there is none)."""
        with self._errors(self.uri(key)):
            return self.fs.cat_file(self.fs_path(key))

    def working_copy(self, key: str, info: ObjectInfo | None = None, dest: Path | None = None) -> Path | None:
        """A local file with the object's current bytes (None: no such object): on a local
        root the object itself; else ``dest`` (default ``local_path(key)``), downloaded
        unless its stamp says it already holds this ETag and size. ``info``: the object's,
        when a listing just gave it (saves asking the server)."""
        if self.is_local:
            path = self.local_root / key
            if not path.is_file():
                return None
            if dest is None or dest == path:
                return path
            with self._errors(str(path)):
                write_atomic(dest, path.read_bytes())
            return dest
        dest = self.local_path(key) if dest is None else Path(dest)
        info = info or self.info(key)
        if info is None:
            return None
        if _stamp_matches(dest, info):
            return dest
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._errors(self.uri(key)):
                self.fs.get_file(self._path(key), str(tmp))
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        _write_stamp(dest, info, dest.stat())
        return dest

    # ------------------------------------------------------------------ writing

    def put_bytes(self, key: str, data: bytes | str) -> Path:
        """Write ``data`` whole as ``key``: its working copy (atomically), then the object.
        Returns the working copy."""
        path = write_atomic(self.local_path(key), data)
        self.put_file(key, path)
        return path

    def put_file(self, key: str, src: Path) -> None:
        """The local file ``src`` becomes the object ``key`` (whole). Local root: copied
        into place unless ``src`` is the object itself. s3://: uploaded; when ``src`` is a
        working copy (of ``key`` or another), it is stamped as equal to the new object."""
        src = Path(src)
        if self.is_local:
            path = self.local_root / key
            if src.absolute() != path.absolute():
                with self._errors(str(path)):
                    write_atomic(path, src.read_bytes())
            return
        written = src.stat()  # the copy as uploaded: if another process replaces it meanwhile, its stamp will not match
        with self._errors(self.uri(key)):
            self.fs.put_file(str(src), self._path(key))
        info = self.info(key)
        if info is not None:
            _write_stamp(src, info, written)

    def staging_folder(self, prefix: str) -> Path:
        """A new empty local folder to build what ``publish_folder(folder, prefix)`` will
        publish: beside the destination on a local root (so that publishing is a rename),
        under the working folder otherwise."""
        name = f".{Path(prefix).name}.{uuid.uuid4().hex}.tmp"
        if self.is_local:
            folder = (self.local_root / prefix).parent / name
        else:
            folder = self.work_dir / ".staging" / f"{prefix.replace('/', '.')}{name}"
        folder.mkdir(parents=True)
        return folder

    def publish_folder(self, folder: Path, prefix: str) -> None:
        """Every file of the local ``folder`` (a staging_folder) becomes an object under
        ``prefix``, replacing what was there; the folder is consumed. Local root: renamed
        into place. s3://: the old objects under ``prefix`` deleted, every file uploaded
        (concurrently), then the folder removed: a caller records the result (a catalogue
        row) only after this returns, so nothing refers to a half-uploaded prefix."""
        if self.is_local:
            dest = self.local_root / prefix
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                shutil.rmtree(dest)
            Path(folder).rename(dest)
            return
        files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
        with self._errors(self.uri(prefix)):
            if self.fs.find(self._path(prefix)):
                self.fs.rm(self._path(prefix), recursive=True)
            if files:
                self.fs.put([str(p) for p in files],
                            [self._path(key_join(prefix, p.relative_to(folder).as_posix())) for p in files])
        shutil.rmtree(folder, ignore_errors=True)


def as_object_store(root: "ObjectStore | str | Path") -> ObjectStore:
    """``root`` as an ObjectStore (a folder or a local path is a local root)."""
    return root if isinstance(root, ObjectStore) else ObjectStore(root)


def _hidden(key: str) -> bool:
    return any(part.startswith(".") for part in key.split("/"))


def _stamp_path(copy: Path) -> Path:
    return copy.with_name(f".{copy.name}{STAMP_SUFFIX}")


def _write_stamp(copy: Path, info: ObjectInfo, st: os.stat_result) -> None:
    """Record that ``copy`` (as it was when ``st`` was taken) holds the object ``info``."""
    write_atomic(_stamp_path(copy), json.dumps({"etag": info.version, "size": info.size,
                                                "copy": [st.st_ino, st.st_mtime_ns, st.st_size]}))


def _stamp_matches(copy: Path, info: ObjectInfo) -> bool:
    """Whether ``copy`` still holds the object ``info`` (its ETag and size), by its stamp."""
    try:
        stamp = json.loads(_stamp_path(copy).read_text())
        st = copy.stat()
    except (OSError, ValueError):
        return False
    return (stamp.get("etag") == info.version and stamp.get("size") == info.size
            and stamp.get("copy") == [st.st_ino, st.st_mtime_ns, st.st_size])
