"""A small Bottle site running inside a WebAssembly sandbox.

Files under files/ are sent by the app with `static_file`, which answers conditional
requests (`If-None-Match`, `If-Modified-Since` → 304) and byte ranges (206, 416) itself.
"""

import hashlib
import json
import os

import bottle
from bottle import HTTPError, HTTPResponse, request, response, static_file, template

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = os.path.join(HERE, "files")
bottle.TEMPLATE_PATH[:] = [os.path.join(HERE, "views")]

application = bottle.Bottle()

MAX_NAME = 60
MAX_MESSAGE = 500
MAX_TEXT = 64 * 1024


def listing():
    files = []
    for name in sorted(os.listdir(FILES)):
        path = os.path.join(FILES, name)
        if not name.startswith(".") and os.path.isfile(path):
            files.append({"name": name, "size": os.path.getsize(path)})
    return files


@application.get("/")
def index():
    return template("index", files=listing())


@application.get("/hello/<name>")
def hello(name):
    return template("hello", name=name)


@application.get("/files/<filename:path>")
def download(filename):
    """Sends a file from files/ through the app."""
    if any(part.startswith(".") for part in filename.split("/")):
        raise HTTPError(404, "File does not exist.")
    path = os.path.join(FILES, filename)
    etag = None
    if os.path.isfile(path):
        # static_file's own ETag is a bare hash; HTTP wants a quoted string.
        stat = os.stat(path)
        tag = hashlib.sha1(f"{filename}:{stat.st_mtime_ns}:{stat.st_size}".encode())
        etag = f'"{tag.hexdigest()[:20]}"'
    sent = static_file(filename, root=FILES, etag=etag,
                       download=request.query.get("download") == "1")
    if sent.status_code == 416:
        # Tell the client how long the file is, so it can ask again.
        sent.set_header("Content-Range", f"bytes */{os.path.getsize(path)}")
    return sent


@application.route("/contact", method=["GET", "POST"])
def contact():
    form = {"name": "", "email": "", "message": ""}
    errors = {}
    if request.method == "POST":
        form = {key: (request.forms.getunicode(key) or "").strip() for key in form}
        if not form["name"]:
            errors["name"] = "Please tell us your name."
        elif len(form["name"]) > MAX_NAME:
            errors["name"] = f"Keep your name under {MAX_NAME} characters."
        if "@" not in form["email"].strip("@"):
            errors["email"] = "That does not look like an email address."
        if not form["message"]:
            errors["message"] = "Please write a message."
        elif len(form["message"]) > MAX_MESSAGE:
            errors["message"] = f"Keep it under {MAX_MESSAGE} characters."
        if not errors:
            return template("thanks", form=form)
        response.status = 400
    return template("contact", form=form, errors=errors)


def json_error(status, message):
    return HTTPResponse(
        json.dumps({"error": message}), status=status,
        headers={"Content-Type": "application/json"},
    )


@application.post("/api/stats")
def stats():
    """Counts the characters, words and lines of `{"text": "..."}`."""
    if request.content_type.split(";")[0].strip().lower() != "application/json":
        return json_error(415, "send a JSON body (Content-Type: application/json)")
    if request.content_length > MAX_TEXT:
        return json_error(413, f"send at most {MAX_TEXT} bytes")
    try:
        data = request.json
    except HTTPError:
        return json_error(400, "the body is not valid JSON")
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return json_error(400, 'send an object with a "text" string')
    text = data["text"]
    return {
        "characters": len(text),
        "words": len(text.split()),
        "lines": len(text.splitlines()),
    }


@application.error(404)
def not_found(error):
    return template("not_found", path=request.path)
