"""The teacher page of a library: upload, replace and delete documents in the browser.

    GET    /teacher/                          the page: a form, the documents, each upload's steps
    GET    /teacher/api/documents             the documents (as /api/library)
    POST   /teacher/api/documents/<name>?filename=reading.pdf   the file as the body: build its
                                              index and make it live as <name> (replacing one)
    DELETE /teacher/api/documents/<name>      take it out of the library
    GET    /teacher/api/progress/<name>       the steps of the upload of <name> now running

On only when `Settings.teacher_token` is set (otherwise none of these exist: 404); the API wants
`Authorization: Bearer <token>` (401 without, 403 with another). The page itself holds nothing
secret: the teacher types the token into it. An upload is streamed to a temporary directory inside
the library and bounded there (413 past `max_upload_bytes`, before it is read whole), read and
checked like `assistant ingest` (422 with the reader's message), built, and renamed into place by
library.py, so a failed or interrupted upload leaves the library as it was. Leaves out accounts:
one token for every teacher of the server.
"""

from __future__ import annotations

import hmac
import shutil
import time
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse

from assistant.errors import AssistantError, ConflictError, DocumentError, InputError
from assistant.library import Library, check_file_name, check_name

if TYPE_CHECKING:
    from fastapi import FastAPI

TEACHER_PATH = "/teacher"
UPLOADS = TEACHER_PATH + "/api/documents/"  # bodies under it are bounded here, not by access.py
CHUNK_BYTES = 1 << 16


class Refused(Exception):
    """A request answered with `status` and a one-line message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


def status_of(exc: AssistantError) -> int:
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, DocumentError):
        return 422
    if isinstance(exc, InputError):
        return 400
    return 500


class Teacher:
    """The teacher routes over one library; `progress` holds each running upload's steps."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.token = library.settings.teacher_token.strip().encode()
        self.limit = library.settings.max_upload_bytes
        self.progress: dict[str, list[dict]] = {}

    def check_token(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Refused(401, "This needs the teacher token: send 'Authorization: Bearer <token>'.",
                          {"WWW-Authenticate": 'Bearer realm="teacher"'})
        if not hmac.compare_digest(given.strip().encode(), self.token):
            raise Refused(403, "That is not the teacher token of this server.")

    def step(self, name: str, message: str, **fields: object) -> None:
        self.progress.setdefault(name, []).append({"step": message, "at": time.time(), **fields})

    async def upload(self, request: Request, name: str) -> dict:
        """Receive, check, build and publish one document; the new entry."""
        self.check_token(request)
        check_name(name)
        file_name = check_file_name(request.query_params.get("filename", ""))
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            raise Refused(413, f"{file_name}: the upload is over the limit of {self.limit:,} bytes")
        with self.library.changing(name):
            self.progress[name] = []
            staging = self.library.temporary()
            try:
                path = staging / "upload" / file_name
                path.parent.mkdir()
                size = await self._receive(request, path, name, file_name)
                if size == 0:
                    raise DocumentError(f"{file_name}: the upload is empty")
                self.step(name, f"Received {file_name} ({size:,} bytes); reading it")
                document = await anyio.to_thread.run_sync(self.library.read_upload, path)
                pages = f", {len(document.pages)} pages" if document.pages else ""
                self.step(name, f"Read {len(document.text):,} characters{pages}; building the "
                                "index (embedding the passages)")
                entry = await anyio.to_thread.run_sync(self.library.publish, name, [document],
                                                       staging)
                self.step(name, f"{name} is live", done=True)
            except (AssistantError, Refused) as exc:
                self.step(name, f"Failed: {exc}", failed=True)
                raise
            finally:  # at once, even when cancelled; a leftover is removed at the next start
                shutil.rmtree(staging, ignore_errors=True)
        return {"name": entry.name, "sources": list(entry.sources), "pages": len(document.pages),
                "chat": f"/d/{name}/", "ask": f"/api/d/{name}/ask"}

    async def _receive(self, request: Request, path, name: str, file_name: str) -> int:  # noqa: ANN001
        """Stream the body to `path`; Refused(413) as soon as it passes the limit."""
        size, reported = 0, 0
        with path.open("wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.limit:
                    raise Refused(413, f"{file_name}: the upload is over the limit of "
                                       f"{self.limit:,} bytes")
                out.write(chunk)
                if size - reported >= 1_000_000:
                    reported = size
                    self.step(name, f"Receiving {file_name}: {size:,} bytes", received=size)
        return size

    async def delete(self, request: Request, name: str) -> dict:
        self.check_token(request)
        check_name(name)
        with self.library.changing(name):
            if not await anyio.to_thread.run_sync(self.library.delete, name):
                raise Refused(404, f"There is no document named {name!r} in this library.")
        return {"deleted": name}


def add_teacher_routes(app: FastAPI, library: Library) -> None:
    """The page and its API, on `app`; call only when a teacher token is set."""
    teacher = Teacher(library)

    async def answer(call, request: Request, *args: object) -> JSONResponse:  # noqa: ANN001
        try:
            return JSONResponse(await call(request, *args))
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, exc.status, headers=exc.headers)
        except AssistantError as exc:
            return JSONResponse({"error": str(exc)}, status_of(exc))
        except ClientDisconnect:
            return JSONResponse({"error": "the upload was interrupted"}, 400)

    @app.get(TEACHER_PATH, include_in_schema=False)
    async def address() -> RedirectResponse:
        return RedirectResponse(TEACHER_PATH + "/")  # the page's links are relative to /teacher/

    @app.get(TEACHER_PATH + "/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})

    @app.get(TEACHER_PATH + "/api/documents", summary="Teacher: the documents of the library")
    async def documents(request: Request) -> JSONResponse:
        async def listing(request: Request) -> dict:
            teacher.check_token(request)
            entries = await anyio.to_thread.run_sync(library.refresh)
            return {"documents": [{"name": e.name, "sources": list(e.sources)} for e in entries]}

        return await answer(listing, request)

    @app.post(UPLOADS + "{name}", summary="Teacher: upload a file (the body) as document <name>")
    async def upload(name: str, request: Request) -> JSONResponse:
        return await answer(teacher.upload, request, name)

    @app.delete(UPLOADS + "{name}", summary="Teacher: delete document <name>")
    async def delete(name: str, request: Request) -> JSONResponse:
        return await answer(teacher.delete, request, name)

    @app.get(TEACHER_PATH + "/api/progress/{name}", summary="Teacher: the steps of an upload")
    async def progress(name: str, request: Request) -> JSONResponse:
        async def steps(request: Request) -> dict:
            teacher.check_token(request)
            return {"name": name, "steps": teacher.progress.get(name, [])}

        return await answer(steps, request)


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Study Assistant: add documents</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.6rem 0}input[type=text],input[type=password]{width:22rem}
#steps li{margin:.2rem 0}.error{color:#b00020}.ok{color:#05683a}
table{border-collapse:collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}
</style></head><body>
<h1>Add a document</h1>
<p>Upload a reading (.txt, .md, .pdf, .docx, .html). It is indexed on this server and goes live
at <code>/d/&lt;name&gt;/</code>; uploading under an existing name replaces that document.</p>
<form id="upload">
<label>Teacher token <input type="password" id="token" autocomplete="current-password" required></label>
<label>Document name <input type="text" id="name" required pattern="[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}"
 placeholder="week3-reading"></label>
<label>File <input type="file" id="file" accept=".txt,.md,.pdf,.docx,.html,.htm" required></label>
<button type="submit">Upload</button>
</form>
<ol id="steps" aria-live="polite"></ol>
<p id="result" aria-live="polite"></p>
<h2>Documents</h2>
<p><button type="button" id="reload">Show the documents</button></p>
<table><tbody id="documents"></tbody></table>
<script>
const $ = (id) => document.getElementById(id);
const token = $("token");
token.value = sessionStorage.getItem("teacher-token") || "";
const auth = () => {
  sessionStorage.setItem("teacher-token", token.value);
  return {Authorization: "Bearer " + token.value};
};
function say(text, cls) { const p = $("result"); p.textContent = text; p.className = cls || ""; }
function showSteps(steps) {
  const list = $("steps"); list.replaceChildren();
  for (const s of steps) {
    const li = document.createElement("li"); li.textContent = s.step; list.append(li);
  }
}
async function error(response) {
  try { return (await response.json()).error; }
  catch (e) { return response.status + " " + response.statusText; }
}
async function reload() {
  const response = await fetch("api/documents", {headers: auth()});
  if (!response.ok) { say(await error(response), "error"); return; }
  const rows = $("documents"); rows.replaceChildren();
  for (const d of (await response.json()).documents) {
    const tr = document.createElement("tr");
    const name = document.createElement("td"); const link = document.createElement("a");
    link.href = "../d/" + encodeURIComponent(d.name) + "/"; link.textContent = d.name; name.append(link);
    const sources = document.createElement("td"); sources.textContent = d.sources.join(", ");
    const act = document.createElement("td"); const del = document.createElement("button");
    del.type = "button"; del.textContent = "Delete";
    del.onclick = async () => {
      if (!confirm("Delete " + d.name + "?")) return;
      const r = await fetch("api/documents/" + encodeURIComponent(d.name),
                            {method: "DELETE", headers: auth()});
      say(r.ok ? d.name + " deleted." : await error(r), r.ok ? "ok" : "error"); reload();
    };
    act.append(del); tr.append(name, sources, act); rows.append(tr);
  }
}
$("reload").onclick = reload;
$("upload").onsubmit = async (event) => {
  event.preventDefault();
  const name = $("name").value.trim(), file = $("file").files[0];
  if (!file) return;
  say("Uploading " + file.name + " (" + file.size.toLocaleString() + " bytes)...");
  showSteps([]);
  const url = "api/documents/" + encodeURIComponent(name) + "?filename=" + encodeURIComponent(file.name);
  const headers = {...auth(), "Content-Type": "application/octet-stream"};
  const sent = fetch(url, {method: "POST", headers: headers, body: file});
  let finished = false;
  const steps = async () => {
    const r = await fetch("api/progress/" + encodeURIComponent(name), {headers: auth()});
    if (r.ok) showSteps((await r.json()).steps);
  };
  const poll = async () => {
    while (!finished) { await steps(); await new Promise((done) => setTimeout(done, 500)); }
  };
  poll();
  try {
    const response = await sent;
    finished = true;
    if (response.status !== 409) await steps();  // the last step, or why it failed
    if (response.ok) {
      const d = await response.json();
      const pages = d.pages ? " (" + d.pages + " pages)" : "";
      say(d.name + " is live: " + d.sources.join(", ") + pages + ".", "ok");
      reload();
    } else {
      say(await error(response), "error");
    }
  } catch (e) {
    finished = true; say("The upload failed: " + e, "error");
  }
};
</script></body></html>
"""
