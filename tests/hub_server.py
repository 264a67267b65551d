"""A tiny Hugging Face Hub on 127.0.0.1 for tests: just what huggingface_hub's client calls.

Storage on disk under ROOT::

    repos/<org>/<name>/refs.json             {"main": "<commit>"}
    repos/<org>/<name>/commits/<commit>/...  the files of each commit
    repos/<org>/<name>/token                 (optional) bearer token the repo requires (a private repo)
    repos/<org>/<name>/etags.json            (optional) {"file": "etag"}: lie about a file's sha256
    files/...                                plain URL downloads (``GET /files/...``, Range supported)
    requests.log                             one line per request: "METHOD path [Range=...]"

Endpoints: ``HEAD``/``GET /{org}/{name}/resolve/{rev}/{path}`` (``X-Repo-Commit``, ``ETag``,
``X-Linked-Etag`` = sha256 for LFS-type files, ``Content-Length``, ``X-Error-Code`` on errors), and for
``push_to_hub``: ``POST /api/repos/create``, ``POST /api/validate-yaml``, ``POST /api/models/{repo}/preupload/{rev}`` (every file
"regular", so the commit carries it inline) and ``POST /api/models/{repo}/commit/{rev}`` (NDJSON).

Run: ``python tests/hub_server.py ROOT`` prints the port on its first line, then serves until killed.
:func:`publish` writes a commit directly (used by tests to seed repos); :class:`LocalHub` runs the
server in a subprocess and the client scenarios of ``tests/hub_client.py`` against it.
"""
from __future__ import annotations

import base64
import io
import os
import subprocess
import hashlib
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LFS_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


def publish(root: str | Path, repo_id: str, files: dict[str, bytes], branch: str = "main",
            token: str | None = None, deleted: tuple[str, ...] = ()) -> str:
    """Create a commit on ``branch`` holding the previous files plus ``files``; returns its hash."""
    repo = Path(root) / "repos" / repo_id
    refs_path = repo / "refs.json"
    refs = json.loads(refs_path.read_text()) if refs_path.exists() else {}
    content: dict[str, bytes] = {}
    if branch in refs:
        parent = repo / "commits" / refs[branch]
        content = {p.relative_to(parent).as_posix(): p.read_bytes() for p in parent.rglob("*") if p.is_file()}
    content.update(files)
    for name in deleted:
        content.pop(name, None)
    digest = hashlib.sha1(repr(time.time_ns()).encode())
    for name in sorted(content):
        digest.update(name.encode() + hashlib.sha256(content[name]).digest())
    commit = digest.hexdigest()
    for name, data in content.items():
        path = repo / "commits" / commit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    refs[branch] = commit
    refs_path.write_text(json.dumps(refs))
    if token:
        (repo / "token").write_text(token)
    return commit


class HubHandler(BaseHTTPRequestHandler):
    root: Path

    def log_message(self, *args) -> None:  # keep test output clean; requests.log records everything
        pass

    def _log(self) -> None:
        with open(self.root / "requests.log", "a") as f:
            byte_range = f" Range={self.headers['Range']}" if self.headers.get("Range") else ""
            f.write(f"{self.command} {self.path}{byte_range}\n")

    def _send(self, status: int, headers: dict | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None) -> None:
        self._send(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(obj).encode())

    def _error(self, status: int, code: str, headers: dict | None = None) -> None:
        self._json(status, {"error": code}, {"X-Error-Code": code, **(headers or {})})

    # --- routing ---------------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._log()
        self._route()

    def do_GET(self) -> None:
        self._log()
        self._route()

    def do_POST(self) -> None:
        self._log()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.urlparse(self.path).path
        parts = path.strip("/").split("/")
        if path == "/api/repos/create":
            payload = json.loads(body or b"{}")
            repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
            (self.root / "repos" / repo_id).mkdir(parents=True, exist_ok=True)
            return self._json(200, {"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id})
        if path == "/api/validate-yaml":  # model card metadata check before an upload
            return self._json(200, {"warnings": [], "errors": []})
        if len(parts) >= 6 and parts[:2] == ["api", "models"] and parts[4] in ("preupload", "commit"):
            repo_id, revision = f"{parts[2]}/{parts[3]}", urllib.parse.unquote("/".join(parts[5:]))
            if parts[4] == "preupload":
                files = json.loads(body)["files"]
                return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                  for f in files]})
            return self._commit(repo_id, revision, body)
        self._error(404, "EndpointNotFound")

    def _commit(self, repo_id: str, revision: str, body: bytes) -> None:
        files, deleted = {}, []
        for line in body.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                value = item["value"]
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "deletedFile":
                deleted.append(item["value"]["path"])
        commit = publish(self.root, repo_id, files, branch=revision, deleted=tuple(deleted))
        host = f"http://{self.headers['Host']}"
        self._json(200, {"commitUrl": f"{host}/{repo_id}/commit/{commit}", "commitOid": commit,
                         "pullRequestUrl": None})

    def _route(self) -> None:
        path = urllib.parse.unquote(urllib.parse.urlparse(self.path).path)
        parts = path.strip("/").split("/")
        if parts[0] == "files":
            return self._static(self.root / "files" / "/".join(parts[1:]))
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        self._error(404, "EndpointNotFound")

    def _resolve(self, repo_id: str, revision: str, filename: str) -> None:
        repo = self.root / "repos" / repo_id
        token_file = repo / "token"
        if not (repo / "refs.json").exists() or (
                token_file.exists() and self.headers.get("Authorization") != f"Bearer {token_file.read_text()}"):
            return self._error(401, "RepoNotFound")  # the Hub hides private repos behind the same answer
        refs = json.loads((repo / "refs.json").read_text())
        commit = refs.get(revision, revision)
        folder = repo / "commits" / commit
        if not folder.is_dir():
            return self._error(404, "RevisionNotFound")
        file = folder / filename
        if not file.is_file():
            return self._error(404, "EntryNotFound", {"X-Repo-Commit": commit})
        data = file.read_bytes()
        headers = {"X-Repo-Commit": commit, "Content-Length": len(data), "Accept-Ranges": "bytes"}
        lies = repo / "etags.json"
        forced = json.loads(lies.read_text()).get(filename) if lies.exists() else None
        if filename.endswith(LFS_SUFFIXES):  # stored in LFS on the real Hub: ETag is the content's sha256
            etag = forced or hashlib.sha256(data).hexdigest()
            headers.update({"ETag": f'"{etag}"', "X-Linked-Etag": f'"{etag}"', "X-Linked-Size": len(data)})
        else:  # git blob: ETag is the git sha1
            etag = forced or hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            headers["ETag"] = f'"{etag}"'
        self._send(200, headers, data)

    def _static(self, file: Path) -> None:
        if not file.is_file():
            return self._error(404, "EntryNotFound")
        data = file.read_bytes()
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            if start >= len(data):
                return self._send(416, {"Content-Range": f"bytes */{len(data)}"})
            return self._send(206, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}, data[start:])
        self._send(200, {}, data)


def serve(root: str | Path) -> ThreadingHTTPServer:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    handler = type("Handler", (HubHandler,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class LocalHub:
    """The server in a subprocess, plus helpers to seed it and run client scenarios against it."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen([sys.executable, __file__, str(self.root)], stdout=subprocess.PIPE, text=True)
        self.endpoint = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def publish(self, repo_id: str, files: dict[str, bytes], **kwargs) -> str:
        return publish(self.root, repo_id, files, **kwargs)

    def add_file(self, name: str, data: bytes) -> str:
        """A plain URL download: returns its URL."""
        path = self.root / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return f"{self.endpoint}/files/{name}"

    def requests(self) -> list[str]:
        log = self.root / "requests.log"
        return log.read_text().splitlines() if log.exists() else []

    def env(self, folder: Path, **extra: str) -> dict:
        """Environment of a client: this Hub, its own caches, no token, no progress bars."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "HRNET_ZOO_"))}
        env.update(HF_ENDPOINT=self.endpoint, HF_HOME=str(folder / "hf"), HRNET_ZOO_CACHE=str(folder / "zoo"),
                   HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1", **extra)
        return env

    def client(self, scenario: str, args: dict, env: dict, background: bool = False):
        """Run ``tests/hub_client.py SCENARIO`` (or start it, with ``background``); returns its JSON result."""
        client = Path(__file__).with_name("hub_client.py")
        cmd = [sys.executable, str(client), scenario, json.dumps({"log": str(self.root / "requests.log"), **args})]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return proc if background else client_result(proc)


def client_result(proc: subprocess.Popen, timeout: float = 240) -> dict:
    stdout, stderr = proc.communicate(timeout=timeout)
    lines = stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"client failed (rc {proc.returncode}):\n{stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert "crash" not in result, result.get("crash")
    return result


def official_pose_checkpoint(seed: int) -> tuple[bytes, dict]:
    """A random hrnet_w18_small_v1 in the official pose key layout (pickled, as released).

    Returns (the ``.pth`` bytes, hrnet_zoo's state dict of the same weights).
    """
    import torch

    import hrnet_zoo

    torch.manual_seed(seed)
    model = hrnet_zoo.create_model("hrnet_w18_small_v1")
    for name, buf in model.named_buffers():  # non-default BN statistics, so loading them is visible
        if buf.is_floating_point():
            buf.uniform_(0.5, 1.5)
    state = model.state_dict()
    data = io.BytesIO()
    torch.save({k.split(".", 1)[1]: v for k, v in state.items()}, data)  # drop backbone./head.
    return data.getvalue(), state


if __name__ == "__main__":
    srv = serve(sys.argv[1])
    print(srv.server_address[1], flush=True)
    threading.Event().wait()
