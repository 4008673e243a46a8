"""A small Falcon 4 JSON API running inside a WebAssembly sandbox.

    GET    /                 what this API offers
    GET    /books            the collection          POST /books       add a book   (201)
    GET    /books/{id}       one book                PUT  /books/{id}  replace it   (200)
    DELETE /books/{id}       remove it (204)
    POST   /uploads          a raw body of any size up to 8 MiB: its size and SHA-256 (201)

Errors are JSON: an unknown book is a 404, a malformed JSON body a 400, a book that fails
validation a 422 listing each field's problem.
"""

import hashlib

import falcon
from falcon.stream import BoundedStream

MAX_UPLOAD = 8 * 1024 * 1024
BLOCK = 64 * 1024


class Invalid(Exception):
    """A book that fails validation; `errors` maps each bad field to its problem."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


def invalid_book(req, resp, error, params):
    """The error handler for `Invalid`: 422 with every field's problem."""
    resp.status = falcon.HTTP_422
    resp.media = {"title": "Invalid book", "errors": error.errors}


def validated(data):
    """The book in `data` (title, author, optional year), or raises `Invalid`."""
    if not isinstance(data, dict):
        raise Invalid({"body": "send a JSON object"})
    errors = {}
    book = {}
    for field, longest in (("title", 200), ("author", 100)):
        value = data.get(field)
        if not isinstance(value, str) or not value.strip():
            errors[field] = "required: a non-empty string"
        elif len(value) > longest:
            errors[field] = f"at most {longest} characters"
        else:
            book[field] = value.strip()
    year = data.get("year")
    if year is not None and (type(year) is not int or not -3000 <= year <= 3000):
        errors["year"] = "a whole number between -3000 and 3000, or leave it out"
    book["year"] = year
    unknown = sorted(set(data) - {"title", "author", "year"})
    if unknown:
        errors["unknown"] = f"fields not known: {', '.join(unknown)}"
    if errors:
        raise Invalid(errors)
    return book


class Library:
    """The collection, kept in this instance's memory."""

    def __init__(self):
        self.books = {}
        self.next_id = 1
        for title, author, year in [
            ("The Left Hand of Darkness", "Ursula K. Le Guin", 1969),
            ("Invisible Cities", "Italo Calvino", 1972),
        ]:
            self.add({"title": title, "author": author, "year": year})

    def add(self, book):
        book = {"id": self.next_id, **book}
        self.books[book["id"]] = book
        self.next_id += 1
        return book

    def get(self, book_id):
        try:
            return self.books[book_id]
        except KeyError:
            raise falcon.HTTPNotFound(
                title="Book not found", description=f"No book has id {book_id}."
            ) from None


class Index:
    def on_get(self, req, resp):
        resp.media = {
            "books": "/books",
            "uploads": "/uploads",
            "framework": f"falcon {falcon.__version__}",
        }


class Books:
    def __init__(self, library):
        self.library = library

    def on_get(self, req, resp):
        resp.media = {"books": list(self.library.books.values())}

    def on_post(self, req, resp):
        book = self.library.add(validated(req.get_media()))
        resp.status = falcon.HTTP_201
        resp.location = f"/books/{book['id']}"
        resp.media = book


class Book:
    def __init__(self, library):
        self.library = library

    def on_get(self, req, resp, book_id):
        resp.media = self.library.get(book_id)

    def on_put(self, req, resp, book_id):
        self.library.get(book_id)
        book = {"id": book_id, **validated(req.get_media())}
        self.library.books[book_id] = book
        resp.media = book

    def on_delete(self, req, resp, book_id):
        self.library.get(book_id)
        del self.library.books[book_id]
        resp.status = falcon.HTTP_204


class Uploads:
    """Measures and hashes a raw request body, read block by block; keeps nothing."""

    def on_post(self, req, resp):
        if req.content_length is not None:
            if req.content_length > MAX_UPLOAD:
                raise falcon.HTTPContentTooLarge(
                    description=f"Uploads are limited to {MAX_UPLOAD} bytes."
                )
            # bounded_stream stops at Content-Length, whatever the server's input does.
            stream, framing = req.bounded_stream, "content-length"
        elif req.env.get("wsgi.input_terminated"):
            # A chunked body has no length, but the server ends the input at the body's end
            # (PEP 3333's wsgi.input_terminated); bound it one byte past the limit.
            stream, framing = BoundedStream(req.stream, MAX_UPLOAD + 1), "terminated"
        else:
            raise falcon.HTTPLengthRequired(
                description="Send a Content-Length, or a chunked body."
            )
        digest = hashlib.sha256()
        size = 0
        while block := stream.read(BLOCK):
            size += len(block)
            if size > MAX_UPLOAD:
                raise falcon.HTTPContentTooLarge(
                    description=f"Uploads are limited to {MAX_UPLOAD} bytes."
                )
            digest.update(block)
        resp.status = falcon.HTTP_201
        resp.media = {
            "size": size,
            "sha256": digest.hexdigest(),
            "content_type": req.content_type,
            "framing": framing,
        }


def create_app():
    library = Library()
    app = falcon.App()
    app.add_route("/", Index())
    app.add_route("/books", Books(library))
    app.add_route("/books/{book_id:int}", Book(library))
    app.add_route("/uploads", Uploads())
    app.add_error_handler(Invalid, invalid_book)
    return app


app = create_app()
