//! Helpers shared by the topics: a fixed-answer HTTP server on a loopback thread.

use std::io::{Read, Write};
use std::net::TcpListener;

/// Serves `body` as `content_type` with status 200 to every request, from a background thread,
/// for as long as the test binary runs; returns `127.0.0.1:PORT`. Enough for a metrics target or
/// a page for the browser, where what matters is what the client does with the answer.
pub fn serve(content_type: &'static str, body: impl Into<String>) -> String {
    let body = body.into();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            // Read the request head (clients here send no body) so closing does not reset it.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}
