//! Responses read off the wire: the status line, headers and a body framed by length,
//! chunks or the connection's end; and chunked bodies to send.

use std::io::BufRead;

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Lower-cased names, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The request this answers, as sent: its head and the start of its body (empty when
    /// the test read the response off its own connection); failure messages show it.
    pub request: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): status {} body {}",
                self.status,
                self.text()
            )
        })
    }

    /// Reads the status line and headers only.
    pub fn read_head(reader: &mut impl BufRead) -> Response {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a status line");
        let mut parts = line.trim_end().splitn(3, ' ');
        let _version = parts.next();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let reason = parts.next().unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header line");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header");
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        Response {
            status,
            reason,
            headers,
            body: Vec::new(),
            request: String::new(),
        }
    }

    pub fn read(reader: &mut impl BufRead, head_request: bool) -> Response {
        let mut response = Response::read_head(reader);
        if head_request || response.status == 304 || response.status == 204 {
            return response;
        }
        if response.header("transfer-encoding") == Some("chunked") {
            response.body = read_chunked(reader);
        } else if let Some(length) = response.header("content-length") {
            let mut body = vec![0; length.parse().unwrap()];
            reader.read_exact(&mut body).expect("the whole body");
            response.body = body;
        } else {
            reader.read_to_end(&mut response.body).expect("the body");
        }
        response
    }
}

/// How much of a body a failure message shows.
const SHOWN: usize = 64 * 1024;

// Assertions: each failure shows the whole response (see `Response::describe`).
impl Response {
    /// The response as failure messages show it: the request it answers (when known), the
    /// status line, the headers and the body (its first 64 KiB).
    pub fn describe(&self) -> String {
        let text = self.text();
        let shown = match text.char_indices().nth(SHOWN) {
            Some((end, _)) => format!("{}\n… ({} more bytes)", &text[..end], text.len() - end),
            None => text,
        };
        let request = match self.request.trim_end() {
            "" => String::new(),
            head => format!("request {head:?}\n"),
        };
        format!(
            "{request}status {} {}\nheaders {:?}\nbody:\n{shown}",
            self.status, self.reason, self.headers
        )
    }

    /// Asserts the status is `status`.
    pub fn assert_status(&self, status: u16) -> &Response {
        assert_eq!(self.status, status, "{}", self.describe());
        self
    }

    /// Asserts the status is `status` and the body, as text, is `text`.
    pub fn assert_body(&self, status: u16, text: &str) -> &Response {
        assert_eq!(
            (self.status, self.text().as_str()),
            (status, text),
            "{}",
            self.describe()
        );
        self
    }

    /// Asserts the header `name` (lower case) is `expected`; `None`: there is none.
    pub fn assert_header(&self, name: &str, expected: Option<&str>) -> &Response {
        assert_eq!(
            self.header(name),
            expected,
            "header `{name}`: {}",
            self.describe()
        );
        self
    }

    /// Asserts the body, as text, holds `needle`.
    pub fn assert_contains(&self, needle: &str) -> &Response {
        assert!(
            self.text().contains(needle),
            "{needle:?} in the body: {}",
            self.describe()
        );
        self
    }

    /// Asserts the body, as text, does not hold `needle`.
    pub fn assert_lacks(&self, needle: &str) -> &Response {
        assert!(
            !self.text().contains(needle),
            "no {needle:?} in the body: {}",
            self.describe()
        );
        self
    }
}

/// Reads one chunk of a chunked body; `None` at the last chunk.
pub fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut size = String::new();
    reader.read_line(&mut size).expect("a chunk size");
    let size =
        usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).expect("hex chunk size");
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).expect("a whole chunk");
    chunk.truncate(size);
    (size > 0).then_some(chunk)
}

fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(chunk) = read_chunk(reader) {
        body.extend_from_slice(&chunk);
    }
    body
}

/// `len` bytes that do not compress and are the same on every run (a body to upload).
pub fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// `body` framed as HTTP/1.1 chunks, their sizes taken from `sizes` in turn.
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
