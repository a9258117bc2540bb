//! The receiver's side of HTTP/1.1: complete requests out of the bytes read so far
//! (`Content-Length` or chunked bodies, keep-alive), and status lines.

use std::time::{Instant, SystemTime};

use super::Request;
use crate::net::find_header as header;

/// One complete request from the front of `buffer`: the request, how many bytes it took, and
/// whether the connection stays open after it. `Ok(None)` while incomplete; `Err` if malformed.
pub(super) fn parse(buffer: &[u8]) -> Result<Option<(Request, usize, bool)>, ()> {
    let Some(head_end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(|_| ())?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().ok_or(())?.split_whitespace();
    let (method, path, version) = (
        request_line.next().ok_or(())?,
        request_line.next().ok_or(())?,
        request_line.next().ok_or(())?,
    );
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            line.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .ok_or(())
        })
        .collect::<Result<_, _>>()?;
    let body_start = head_end + 4;
    let chunked =
        header(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let (body, used) = if chunked {
        match dechunk(&buffer[body_start..])? {
            Some((body, len)) => (body, body_start + len),
            None => return Ok(None),
        }
    } else {
        let length: usize =
            header(&headers, "content-length").map_or(Ok(0), |v| v.parse().map_err(|_| ()))?;
        if buffer.len() < body_start + length {
            return Ok(None);
        }
        (
            buffer[body_start..body_start + length].to_vec(),
            body_start + length,
        )
    };
    let connection = header(&headers, "connection").map(str::to_ascii_lowercase);
    let keep_alive = match version {
        "HTTP/1.0" => connection.as_deref() == Some("keep-alive"),
        _ => connection.as_deref() != Some("close"),
    };
    let request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body,
        at: Instant::now(),
        received: SystemTime::now(),
    };
    Ok(Some((request, used, keep_alive)))
}

/// A chunked body from the front of `data`: the body and the bytes it took (trailers are not
/// supported: senders here send none). `Ok(None)` while incomplete.
fn dechunk(data: &[u8]) -> Result<Option<(Vec<u8>, usize)>, ()> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = data[at..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&data[at..at + line_end]).map_err(|_| ())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| ())?;
        at += line_end + 2;
        if data.len() < at + size + 2 {
            return Ok(None);
        }
        if size == 0 {
            return Ok(Some((body, at + 2)));
        }
        body.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Scripted",
    }
}
