"""A small Flask site running inside a WebAssembly sandbox.

It shows templates, a form, signed-cookie sessions, JSON in and out, a file upload (which
Werkzeug spools to the site's private /tmp past 500 KiB), and files sent through the app with `send_from_directory` (ETag, 304 and byte ranges
done by Werkzeug).
"""

import hashlib
import os
import platform
import sys
from datetime import datetime, timezone

from flask import (
    Flask,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)


app = Flask(__name__)
# Signs the session cookie (the visit counter, the remembered name, flash messages).
app.config["SECRET_KEY"] = os.environ.get("FLASK_SECRET_KEY", "demo-only-not-secret")
app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
# Werkzeug answers 413 to a request body larger than this, however it is framed.
app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024

FILES = os.path.join(app.root_path, "files")

# Entries live as long as this instance does: enough for a demo, not a database.
MAX_ENTRIES = 20
MAX_MESSAGE = 280
MAX_NAME = 60
entries = []


@app.route("/")
def index():
    return render_template("index.html", entries=entries[-5:])


@app.route("/hello/<name>")
def hello(name):
    return render_template("hello.html", name=name)


@app.route("/api/info")
def info():
    return jsonify(
        python=sys.version.split()[0],
        implementation=platform.python_implementation(),
        platform=sys.platform,
        server=request.environ.get("SERVER_SOFTWARE", "wsgi-wasm"),
        time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        multiprocess=request.environ["wsgi.multiprocess"],
    )


@app.post("/api/echo")
def echo():
    """Sends a JSON document back, with what the app learnt about it."""
    if not request.is_json:
        return jsonify(error="send a JSON body (Content-Type: application/json)"), 415
    data = request.get_json(silent=True)
    if data is None and request.get_data() != b"null":
        return jsonify(error="the body is not valid JSON"), 400
    return jsonify(received=data, type=type(data).__name__, bytes=len(request.get_data()))


@app.route("/guestbook", methods=["GET", "POST"])
def guestbook():
    title = os.environ.get("GUESTBOOK_TITLE", "Guestbook")
    errors = {}
    form = {"name": "", "message": ""}
    if request.method == "POST":
        form = {key: request.form.get(key, "").strip() for key in form}
        if not form["name"]:
            errors["name"] = "Please tell us your name."
        if not form["message"]:
            errors["message"] = "Please write a message."
        elif len(form["message"]) > MAX_MESSAGE:
            errors["message"] = f"Keep it under {MAX_MESSAGE} characters."
        if not errors:
            entries.append({**form, "at": datetime.now(timezone.utc)})
            del entries[:-MAX_ENTRIES]
            flash(f"Thanks, {form['name']}! Your message was added.")
            return redirect(url_for("guestbook"), code=303)
    status = 400 if errors else 200
    page = render_template(
        "guestbook.html", title=title, entries=reversed(entries), form=form, errors=errors
    )
    return page, status


@app.route("/session", methods=["GET", "POST"])
def visitor():
    """A per-visitor counter and a remembered name, kept in the signed session cookie."""
    error = None
    if request.method == "POST":
        if request.form.get("action") == "forget":
            session.clear()
            flash("Forgotten: this browser starts afresh.")
            return redirect(url_for("visitor"), code=303)
        name = request.form.get("name", "").strip()
        if not name:
            error = "Please tell us your name."
        elif len(name) > MAX_NAME:
            error = f"Keep it under {MAX_NAME} characters."
        else:
            session["name"] = name
            flash(f"We will remember you, {name}.")
            return redirect(url_for("visitor"), code=303)
    else:
        session["visits"] = session.get("visits", 0) + 1
    page = render_template(
        "session.html", visits=session.get("visits", 0), name=session.get("name"), error=error
    )
    return page, 400 if error else 200


@app.route("/upload", methods=["GET", "POST"])
def upload():
    """Reports the size and SHA-256 of an uploaded file; the file itself is not kept."""
    report = error = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error = "Choose a file to upload."
        else:
            digest = hashlib.sha256()
            size = 0
            while block := upload.stream.read(64 * 1024):
                digest.update(block)
                size += len(block)
            report = {
                "filename": upload.filename,
                "content_type": upload.mimetype,
                "size": size,
                "sha256": digest.hexdigest(),
                "note": request.form.get("note", ""),
            }
    page = render_template(
        "upload.html", report=report, error=error, limit=app.config["MAX_CONTENT_LENGTH"]
    )
    return page, 400 if error else 200


@app.errorhandler(413)
def too_large(error):
    message = f"That upload is larger than {app.config['MAX_CONTENT_LENGTH'] // 1024} KiB."
    page = render_template(
        "upload.html", report=None, error=message, limit=app.config["MAX_CONTENT_LENGTH"]
    )
    return page, 413


@app.route("/files/")
def files():
    listing = []
    for name in sorted(os.listdir(FILES)):
        path = os.path.join(FILES, name)
        if not name.startswith(".") and os.path.isfile(path):
            listing.append({"name": name, "size": os.path.getsize(path)})
    return render_template("files.html", files=listing)


@app.route("/files/<path:name>")
def download(name):
    """Sends a file through the app: Werkzeug adds ETag/Last-Modified, 304s and ranges."""
    if name.startswith(".") or "/." in name:
        abort(404)
    attachment = request.args.get("download") == "1"
    return send_from_directory(FILES, name, as_attachment=attachment, max_age=60)


@app.errorhandler(404)
def not_found(error):
    return render_template("404.html", path=request.path), 404
