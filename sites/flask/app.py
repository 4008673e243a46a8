"""A small Flask site running inside a WebAssembly sandbox."""

import os
import platform
import sys
from datetime import datetime, timezone

from flask import Flask, flash, jsonify, redirect, render_template, request, url_for

app = Flask(__name__)
# Only used to sign the flash-message cookie of this demo site.
app.config["SECRET_KEY"] = os.environ.get("FLASK_SECRET_KEY", "demo-only-not-secret")

# Entries live as long as this instance does: enough for a demo, not a database.
MAX_ENTRIES = 20
MAX_MESSAGE = 280
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


@app.errorhandler(404)
def not_found(error):
    return render_template("404.html", path=request.path), 404
