"""Flask-Login fixture: sign-up, log-in and a protected page, written as the docs write them."""

import os

from flask import Flask, abort, jsonify, request
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

app = Flask(__name__)
app.secret_key = os.environ["SECRET_KEY"]
login_manager = LoginManager(app)

USERS = {}


class User(UserMixin):
    def __init__(self, name, password_hash):
        self.id = name
        self.password_hash = password_hash


@login_manager.user_loader
def load_user(user_id):
    return USERS.get(user_id)


@app.post("/signup")
def signup():
    name = request.form["name"]
    if name in USERS:
        abort(409)
    USERS[name] = User(name, generate_password_hash(request.form["password"]))
    return jsonify(name=name, method=USERS[name].password_hash.split("$")[0]), 201


@app.post("/login")
def login():
    user = USERS.get(request.form["name"])
    if user is None or not check_password_hash(user.password_hash, request.form["password"]):
        return jsonify(error="wrong name or password"), 401
    login_user(user)
    return jsonify(name=user.id)


@app.get("/me")
@login_required
def me():
    return jsonify(name=current_user.id)


@app.post("/logout")
def logout():
    logout_user()
    return jsonify(done=True)
