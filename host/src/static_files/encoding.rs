//! Step 6 of the pipeline: which precompressed sibling (`<file>.br`, `<file>.gz`) the
//! client accepts, read from `Accept-Encoding` with its q-values (RFC 9110 §12.5.3).

use http::header::ACCEPT_ENCODING;
use http::HeaderMap;

/// A content coding we can serve from a precompressed sibling file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    /// The sibling's file-name suffix.
    pub fn extension(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gz",
        }
    }

    /// The `Content-Encoding` value.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// The codings the client accepts (q > 0), best first; identity is always the fallback.
pub fn accepted(headers: &HeaderMap) -> Vec<Coding> {
    let mut br: Option<u16> = None;
    let mut gzip: Option<u16> = None;
    let mut star: Option<u16> = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = Some(1000);
            for param in parts {
                if let Some((key, val)) = param.split_once('=') {
                    if key.trim().eq_ignore_ascii_case("q") {
                        q = parse_qvalue(val.trim());
                    }
                }
            }
            // An unparseable weight makes the entry count as "not acceptable".
            let q = q.unwrap_or(0);
            let slot = match name.as_str() {
                "br" => &mut br,
                "gzip" | "x-gzip" => &mut gzip,
                "*" => &mut star,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
    }
    let mut ranked: Vec<(Coding, u16)> = [(Coding::Brotli, br), (Coding::Gzip, gzip)]
        .into_iter()
        .filter_map(|(coding, q)| q.or(star).map(|q| (coding, q)))
        .filter(|&(_, q)| q > 0)
        .collect();
    // Stable sort: equal weights keep br before gzip.
    ranked.sort_by_key(|&(_, q)| std::cmp::Reverse(q));
    ranked.into_iter().map(|(coding, _)| coding).collect()
}

/// Parses an RFC 9110 qvalue (`0`, `0.5`, `1.000`) into thousandths.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ranked(value: &str) -> Vec<Coding> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepted(&headers)
    }

    #[test]
    fn static_accept_encoding_q_values() {
        use Coding::*;
        assert_eq!(accepted(&HeaderMap::new()), []);
        assert_eq!(ranked("gzip, deflate, br"), [Brotli, Gzip]);
        assert_eq!(ranked("gzip;q=1.0, br;q=0.5"), [Gzip, Brotli]);
        assert_eq!(ranked("br;q=0, gzip"), [Gzip]);
        assert_eq!(ranked("br;q=0.000, gzip;q=0"), []);
        assert_eq!(ranked("*"), [Brotli, Gzip]);
        assert_eq!(ranked("*;q=0.2, br;q=0"), [Gzip]);
        assert_eq!(ranked("identity"), []);
        assert_eq!(ranked("BR ; Q=0.9 , x-gzip"), [Gzip, Brotli]);
        assert_eq!(ranked("br;q=2, gzip;q=abc"), []);
        assert_eq!(ranked("br;q=0.001"), [Brotli]);
    }

    #[test]
    fn static_qvalue_parser() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.25"), Some(250));
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("1.5"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
        assert_eq!(parse_qvalue("-1"), None);
    }
}
