//! Small HTTP helpers of `/v2`: `Content-Range` of upload chunks,
//! `Range` of blob reads, pagination `Link`s.

use actix_web::http::header::HeaderMap;
use berth_core::ErrorCode;

use crate::OciError;

pub(crate) use berth_edge::Query;

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The declared body length, if the client sent `Content-Length`.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    header(headers, "content-length").and_then(|v| v.trim().parse().ok())
}

/// An upload chunk's `Content-Range: <start>-<end>` (inclusive). The spec's form has no unit;
/// `bytes ` / `bytes=` prefixes some clients add are tolerated.
pub(crate) fn chunk_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>, OciError> {
    let Some(raw) = header(headers, "content-range") else {
        return Ok(None);
    };
    let v = raw.trim();
    let v = v
        .strip_prefix("bytes")
        .map(|r| r.trim_start_matches([' ', '=']))
        .unwrap_or(v);
    let v = v.split('/').next().unwrap_or(v);
    let parsed = v
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)));
    match parsed {
        Some((start, end)) if end >= start => Ok(Some((start, end))),
        _ => Err(OciError::new(
            ErrorCode::BlobUploadInvalid,
            format!("invalid Content-Range {raw:?}: expected <start>-<end>"),
        )
        .status(actix_web::http::StatusCode::RANGE_NOT_SATISFIABLE)),
    }
}

/// What a `Range` request header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// No usable Range header: the whole blob, 200.
    Full,
    /// `start..=end`, 206.
    Part(u64, u64),
    /// Nothing of the blob satisfies it: 416.
    Unsatisfiable,
}

/// Parses a single-range `Range: bytes=…` header (RFC 9110 §14). Several ranges or another
/// unit are ignored (full body), as the RFC allows.
pub(crate) fn byte_range(value: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return ByteRange::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // suffix: the last n bytes
        return match b.parse::<u64>() {
            Ok(0) => ByteRange::Unsatisfiable,
            Ok(_) if size == 0 => ByteRange::Unsatisfiable,
            Ok(n) => ByteRange::Part(size.saturating_sub(n), size - 1),
            Err(_) => ByteRange::Full,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return ByteRange::Full;
    };
    let end = if b.is_empty() {
        None
    } else {
        match b.parse::<u64>() {
            Ok(e) => Some(e),
            Err(_) => return ByteRange::Full,
        }
    };
    if end.is_some_and(|e| e < start) || start >= size {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part(start, end.map_or(size - 1, |e| e.min(size - 1)))
}

/// The `Range: 0-<last>` value of an upload holding `size` bytes (`0-0` when empty, as
/// distribution sends).
pub(crate) fn upload_range(size: i64) -> String {
    format!("0-{}", (size - 1).max(0))
}

/// `n` of a paginated list: the page size when absent, capped at it.
pub(crate) fn page_n(q: &Query, page_size: i64) -> Result<i64, OciError> {
    match q.get("n") {
        None | Some("") => Ok(page_size),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n.min(page_size)),
            _ => Err(
                OciError::new(ErrorCode::Unsupported, format!("invalid page size n={v:?}"))
                    .status(actix_web::http::StatusCode::BAD_REQUEST),
            ),
        },
    }
}

/// Percent-encodes a query value.
pub(crate) fn q_enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use ByteRange::*;
        let r = |v: &str| byte_range(Some(v), 2048);
        assert_eq!(r("bytes=500-1499"), Part(500, 1499));
        assert_eq!(r("bytes=500-"), Part(500, 2047));
        assert_eq!(r("bytes=-500"), Part(1548, 2047));
        assert_eq!(r("bytes=-5000"), Part(0, 2047));
        assert_eq!(r("bytes=2000-5000"), Part(2000, 2047));
        assert_eq!(r("bytes=500-0"), Unsatisfiable);
        assert_eq!(r("bytes=5000-10000"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=0-1,5-6"), Full);
        assert_eq!(r("items=0-1"), Full);
        assert_eq!(r("bytes=x-1"), Full);
        assert_eq!(byte_range(None, 10), Full);
        assert_eq!(byte_range(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn chunk_ranges() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(
                actix_web::http::header::CONTENT_RANGE,
                actix_web::http::header::HeaderValue::from_str(v).unwrap(),
            );
            chunk_range(&m).ok().flatten()
        };
        assert_eq!(h("0-99"), Some((0, 99)));
        assert_eq!(h("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(h("bytes=5-5"), Some((5, 5)));
        assert_eq!(h("9-1"), None);
        assert_eq!(h("abc"), None);
        assert_eq!(chunk_range(&HeaderMap::new()).ok(), Some(None));
    }

    #[test]
    fn queries() {
        let q = Query::parse(b"tag=a&tag=b&n=2&last=x%2By");
        assert_eq!(page_n(&q, 1000).ok(), Some(2));
        assert_eq!(page_n(&Query::parse(b"n=5000"), 1000).ok(), Some(1000));
        assert!(page_n(&Query::parse(b"n=-1"), 1000).is_err());
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(10), "0-9");
    }
}
