"""WebOb fixture: a form and a query read through webob.Request, under wsgiref.validate."""

import cgi  # legacy-cgi, installed only because the marker was evaluated for 3.14
from wsgiref.validate import validator

from webob import Request, Response


@validator
def application(environ, start_response):
    request = Request(environ)
    if request.method == "POST":
        body = f"posted {request.POST['name']}\n"
    else:
        body = f"hello {request.GET.get('name', 'world')} from {cgi.__name__}\n"
    return Response(body, content_type="text/plain")(environ, start_response)
