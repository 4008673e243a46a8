//! The short, fixed pages the server itself answers with. Clients never see why a request
//! failed beyond its status; the reason and any traceback go to the log. A page is plain
//! text, or HTML for a client that accepts HTML ([`dress`], applied where the app path
//! answers in `http/request.rs`).

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
    response.extensions_mut().insert(ServerPage);
    response
}

/// Marks a response the server made itself ([`error`]): only those are [`dress`]ed, never
/// an app's own answer.
#[derive(Debug, Clone, Copy)]
pub struct ServerPage;

/// Whether the client asks for HTML (`Accept` names `text/html` or
/// `application/xhtml+xml` without `q=0`), as a browser does.
pub fn accepts_html(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let kind = parts.next().unwrap_or("");
            let html = kind.eq_ignore_ascii_case("text/html")
                || kind.eq_ignore_ascii_case("application/xhtml+xml");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            html && !refused
        })
}

/// The same short page as [`error`], as HTML: a browser shows a page, not raw text. Still
/// nothing of why the request failed.
pub fn html_error(status: StatusCode) -> Body {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    body::full(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title}\
         </title></head>\n<body><h1>{title}</h1></body>\n</html>\n"
    ))
}

/// A server-made error page as the client wants it: HTML for a client that accepts HTML,
/// else as it is. Its status and other headers (`Retry-After`) are kept.
pub fn dress(response: Response<Body>, html: bool) -> Response<Body> {
    if !html || response.extensions().get::<ServerPage>().is_none() {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = html_error(parts.status);
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> bool {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        accepts_html(&headers)
    }

    #[test]
    fn pages_html_is_for_clients_that_accept_it() {
        assert!(accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(accept("application/xhtml+xml"));
        assert!(accept("TEXT/HTML; q=0.5"));
        assert!(!accept("application/json"));
        assert!(!accept("*/*"));
        assert!(!accept("text/html;q=0"));
        assert!(!accepts_html(&http::HeaderMap::new()));
    }

    #[test]
    fn pages_dress_turns_only_server_pages_into_html() {
        let page = error(StatusCode::INTERNAL_SERVER_ERROR);
        let dressed = dress(page, true);
        assert_eq!(dressed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            dressed.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let plain = dress(error(StatusCode::BAD_GATEWAY), false);
        assert_eq!(
            plain.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        // An app's own 500 is the app's: never replaced.
        let mut own = Response::new(body::full("app page"));
        *own.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        let own = dress(own, true);
        assert!(own.headers().get(header::CONTENT_TYPE).is_none());
    }
}
