"""Downloads, each verified by sha256 before anything reads the file.

Hub files go through huggingface_hub's own client (`huggingface_hub.hf_hub_download()`: its cache,
``HF_HUB_OFFLINE``, ``HF_TOKEN``, revisions, ``HF_ENDPOINT``); other URLs through a small resumable
downloader that keeps its files under `cache_dir()`. A file whose checksum does not match is
deleted and reported; it is never read.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import huggingface_hub
from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import (  # also where huggingface_hub < 0.24 defines them
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import tqdm as hf_tqdm

from hrnet_zoo.errors import ChecksumError, OfflineError, PretrainedWeightsError  # noqa: F401  (re-exported)

CACHE_ENV = "HRNET_ZOO_CACHE"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
#: How to use a checkpoint obtained some other way, for every "could not download" message.
LOCAL_FILE_ADVICE = ("A checkpoint obtained some other way loads with hrnet_zoo.load_checkpoint(model, path), "
                     "or converts with `hrnet-zoo convert FILE --model MODEL --output DIR`.")
#: Seconds huggingface_hub may wait between retries of an unreachable Hub before we give up (its own
#: backoff waits 1 + 2 + 4 + 8 + 8 s, printing a warning line for each try).
HUB_RETRY_BUDGET_S = 3.0
_HUB_HTTP_LOGGER = "huggingface_hub.utils._http"  # where huggingface_hub logs its retries





def cache_dir() -> Path:
    """hrnet_zoo's cache: ``$HRNET_ZOO_CACHE``, else ``$XDG_CACHE_HOME/hrnet_zoo`` or ``~/.cache/hrnet_zoo``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hrnet_zoo"


def cache_path(*parts: str) -> Path:
    """``cache_dir()/parts…``, refused (PretrainedWeightsError) unless it stays inside the cache: the parts
    come from manifest fields and file names, and ``../`` in one must not reach files outside."""
    root = cache_dir()
    if root.exists() and not root.is_dir():
        raise PretrainedWeightsError(f"hrnet_zoo's cache {root} is a file, not a folder; set {CACHE_ENV} to a folder")
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise PretrainedWeightsError(f"refusing the cache path {path}: it leaves hrnet_zoo's cache {root}")
    return path


def cache_folder(name: str) -> Path:
    """The cache's sub-folder ``name``, created if needed; one clear error when the cache cannot be."""
    folder = cache_path(name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PretrainedWeightsError(
            f"cannot create {folder} in hrnet_zoo's cache ({e.strerror or e}); set {CACHE_ENV} to a writable "
            "folder") from None
    return folder


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub read it (one switch for Hub and URL downloads)."""
    return bool(hf_constants.HF_HUB_OFFLINE)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _offline_message(what: str, hint: str, local_files_only: bool = False) -> str:
    if local_files_only and not is_offline():
        switch, undo = "local_files_only=True", "drop local_files_only"
    else:
        switch, undo = "offline mode is on (HF_HUB_OFFLINE=1)", "unset HF_HUB_OFFLINE"
    return (f"{switch} and {what} is not in the local cache. "
            f"Get it with network access first ({hint}), or {undo}.")


def hf_download(repo_id: str, filename: str, revision: str | None = None, token: str | bool | None = None,
                hint: str | None = None, **hub_kwargs) -> str:
    """`huggingface_hub.hf_hub_download()` with its failures turned into one clear
    [`PretrainedWeightsError`][hrnet_zoo.errors.PretrainedWeightsError] each (`OfflineError` when offline and not cached).

    The file is not verified here: see `fetch_hf_file()`.
    """
    label = f"{repo_id}/{filename}" + (f"@{revision}" if revision else "")
    hint = hint or f"huggingface_hub.hf_hub_download({repo_id!r}, {filename!r})"
    try:
        with _short_quiet_hub_retries():
            return huggingface_hub.hf_hub_download(repo_id, filename, revision=revision, token=token,
                                                   library_name="hrnet_zoo", **hub_kwargs)
    except (OfflineModeIsEnabled, LocalEntryNotFoundError, _HubUnreachable) as e:
        local_only = bool(hub_kwargs.get("local_files_only"))
        if is_offline() or local_only:
            raise OfflineError(_offline_message(label, hint, local_only)) from None
        raise PretrainedWeightsError(f"could not reach the Hub ({hf_constants.ENDPOINT}) for {label} and it is not "
                                     f"in the local cache. {LOCAL_FILE_ADVICE}") from e
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as e:
        raise PretrainedWeightsError(f"{label} does not exist on the Hub (or needs a token: set HF_TOKEN): "
                                     f"{str(e).splitlines()[0]}") from e
    except HfHubHTTPError as e:
        raise PretrainedWeightsError(f"the Hub refused {label}: {str(e).splitlines()[0]}") from e


class _HubUnreachable(Exception):
    """huggingface_hub's retries of an unreachable Hub went past `HUB_RETRY_BUDGET_S`."""


class _RetryBudget(logging.Filter):
    """Drops huggingface_hub's per-try warning lines and stops its backoff once the announced waits
    exceed the budget (raising from the log call is the one hook its retry loop offers)."""

    def __init__(self):
        super().__init__()
        self.waited = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        wait = re.match(r"Retrying in ([0-9.]+)s", record.getMessage())
        if wait:
            self.waited += float(wait[1])
            if self.waited > HUB_RETRY_BUDGET_S:
                raise _HubUnreachable(f"gave up after {self.waited - float(wait[1]):g} s of retries")
        return record.levelno >= logging.ERROR


@contextmanager
def _short_quiet_hub_retries() -> Iterator[None]:
    budget = _RetryBudget()
    logging.getLogger(_HUB_HTTP_LOGGER).addFilter(budget)
    try:
        yield
    finally:
        logging.getLogger(_HUB_HTTP_LOGGER).removeFilter(budget)


def fetch_hf_file(repo_id: str, filename: str, revision: str | None = None, expected_sha256: str | None = None,
                  token: str | bool | None = None, hint: str | None = None, **hub_kwargs) -> tuple[Path, str]:
    """Download (or find in the Hub cache) ``repo_id/filename`` and verify its sha256.

    ``expected_sha256`` is the pinned checksum; without one the file is checked against the sha256
    the Hub reports for its LFS object (the ETag, which names the blob in the Hub cache).

    Returns:
        (path in the huggingface_hub cache, verified sha256).
    """
    label = f"{repo_id}/{filename}" + (f"@{revision}" if revision else "")
    path = hf_download(repo_id, filename, revision, token, hint, **hub_kwargs)
    expected = expected_sha256 or _hub_lfs_sha256(path, repo_id, filename, revision, token)
    if expected is None:
        raise PretrainedWeightsError(
            f"cannot verify {label}: no pinned sha256 and the Hub reports no LFS sha256 for it")
    actual = sha256_file(path)
    if actual != expected:
        _remove_cached_hub_file(path)
        raise ChecksumError(
            f"checksum mismatch for {label}: expected sha256 {expected}, got {actual}. "
            "The corrupted download was removed and nothing was cached; try again.")
    return Path(path), actual


def _hub_lfs_sha256(path: str, repo_id: str, filename: str, revision: str | None, token) -> str | None:
    # The Hub cache names every blob by its ETag, which for LFS files is the sha256 of the content.
    blob_name = Path(os.path.realpath(path)).name
    if _SHA256.match(blob_name):
        return blob_name
    if is_offline():  # no symlinked blob (e.g. Windows without symlinks) and no way to ask the Hub
        return None
    url = huggingface_hub.hf_hub_url(repo_id, filename, revision=revision)
    with _short_quiet_hub_retries():
        etag = huggingface_hub.get_hf_file_metadata(url, token=token).etag
    return etag if etag and _SHA256.match(etag) else None


def _remove_cached_hub_file(path: str) -> None:
    """Delete a snapshot entry and the blob it points to."""
    blob = os.path.realpath(path)
    for p in {blob, path}:
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


def fetch_url(url: str, expected_sha256: str | None = None, expected_prefix: str | None = None,
              hint: str | None = None, progress: bool = True) -> tuple[Path, str]:
    """Download ``url`` into ``cache_dir()/downloads`` (resuming a partial ``.part``) and verify it.

    Checked against ``expected_sha256`` when given, else against ``expected_prefix`` (the first hex
    digits of the sha256, as mmpose writes them into its file names); one of them is required.

    Returns:
        (path of the verified file, its full sha256).
    """
    if not (expected_sha256 or expected_prefix):
        raise PretrainedWeightsError(f"refusing to download {url} without a checksum to verify it against")
    name = url.rstrip("/").rsplit("/", 1)[-1]
    dest = cache_path("downloads", name)  # a URL ending in "/.." must not name a file outside the cache
    cache_folder("downloads")
    if dest.is_file():
        actual = sha256_file(dest)
        if _matches(actual, expected_sha256, expected_prefix):
            return dest, actual
        dest.unlink()  # corrupted since it was verified: fetch it again
    if is_offline():
        raise OfflineError(_offline_message(url, hint or f"download it to {dest}"))

    part = dest.with_name(dest.name + ".part")
    try:
        _download_resumable(url, part, progress)
    except (urllib.error.URLError, OSError) as e:
        kept = (f" (the partial file {part} is kept and the next attempt resumes it)"
                if part.is_file() and part.stat().st_size else "")
        raise PretrainedWeightsError(f"could not download {url}: {e}{kept}. {LOCAL_FILE_ADVICE}") from e
    actual = sha256_file(part)
    if not _matches(actual, expected_sha256, expected_prefix):
        part.unlink()
        expected = expected_sha256 or f"{expected_prefix}… (prefix from the file name)"
        raise ChecksumError(f"checksum mismatch for {name} from {url}: expected sha256 {expected}, got {actual}. "
                            "The corrupted download was removed and nothing was cached; try again.")
    os.replace(part, dest)
    return dest, actual


def _matches(actual: str, expected_sha256: str | None, expected_prefix: str | None) -> bool:
    return actual == expected_sha256 if expected_sha256 else actual.startswith(expected_prefix)


def _download_resumable(url: str, part: Path, progress: bool) -> None:
    """Append to ``part`` from where it stops (HTTP Range); restart if the server ignores the range."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "hrnet_zoo"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the partial file is not a prefix of this resource: restart
            part.unlink()
            return _download_resumable(url, part, progress)
        raise
    with response:
        if offset and response.status != 206:
            offset = 0  # range ignored: the body is the whole file
        length = response.headers.get("Content-Length")
        total = int(length) + offset if length else None
        with open(part, "ab" if offset else "wb") as f, hf_tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, desc=part.name[:-5],
                disable=not progress or None) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                bar.update(len(chunk))
