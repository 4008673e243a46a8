//! The short, fixed pages the server itself answers with. Clients never see why a request
//! failed beyond its status; the reason and any traceback go to the log.

use http::{header, HeaderValue, Response, StatusCode};

use crate::response::body::{self, Body};

/// A plain-text page for `status`, the same for every site.
pub fn error(status: StatusCode) -> Response<Body> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let mut response = Response::new(body::full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
