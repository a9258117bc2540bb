//! The Receiver records what senders send and answers as scripted: always, failing a few times
//! first, rate-limited, per path, or never; it speaks enough HTTP/1.1 for keep-alive and chunked
//! bodies, and takes Alertmanager's real webhooks.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use testkit::alertmanager::Alertmanager;
use testkit::net::{http, http_with_headers};
use testkit::receiver::{Receiver, Script};

const WAIT: Duration = Duration::from_secs(10);

fn statuses(receiver: &Receiver, path: &str, n: usize) -> Vec<u16> {
    let url = format!("{}{path}", receiver.url());
    (0..n)
        .map(|_| http("POST", &url, b"{}").unwrap().status)
        .collect()
}

#[test]
fn always_answers_the_same_and_records_method_path_headers_body_and_time() {
    let receiver = Receiver::start(Script::always(200, "ok"));
    let before = Instant::now();
    let response = http_with_headers(
        "POST",
        &format!("{}/hooks/run?id=7", receiver.url()),
        &[
            ("Content-Type", "application/json"),
            ("X-Cutover-Event", "12"),
        ],
        br#"{"step":"traffic-10","outcome":"done"}"#,
    )
    .unwrap();
    assert_eq!((response.status, response.text().as_str()), (200, "ok"));

    let requests = receiver.wait_for_requests(1, WAIT);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/run?id=7");
    assert_eq!(
        request.header("x-cutover-event"),
        Some("12"),
        "headers match case-insensitively"
    );
    assert_eq!(request.json()["step"], "traffic-10");
    assert!(request.at >= before);
    assert_eq!(statuses(&receiver, "/other", 2), [200, 200]);
    assert_eq!(receiver.requests().len(), 3);
}

#[test]
fn fail_then_fails_the_first_requests_and_then_recovers() {
    let receiver = Receiver::start(Script::fail_then(500, 3, 200));
    assert_eq!(statuses(&receiver, "/", 5), [500, 500, 500, 200, 200]);
}

#[test]
fn status_with_retry_after_tells_the_sender_when_to_come_back() {
    let script = Script::status_with_retry_after(429, 7)
        .times(1)
        .then(Script::always(202, "queued"));
    let receiver = Receiver::start(script);
    let url = format!("{}/", receiver.url());
    let limited = http("POST", &url, b"").unwrap();
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("Retry-After"), Some("7"));
    let accepted = http("POST", &url, b"").unwrap();
    assert_eq!(
        (accepted.status, accepted.header("Retry-After")),
        (202, None)
    );
}

#[test]
fn routes_have_their_own_scripts_and_counts_and_scripts_can_change_mid_test() {
    let receiver = Receiver::start(Script::always(200, "ok"));
    receiver.route("/slack", Script::fail_then(503, 1, 200));
    assert_eq!(statuses(&receiver, "/slack", 2), [503, 200]);
    assert_eq!(statuses(&receiver, "/pagerduty", 1), [200]);

    receiver.set_script(Script::always(500, "down"));
    assert_eq!(statuses(&receiver, "/pagerduty", 1), [500]);
    assert_eq!(
        statuses(&receiver, "/slack?x=1", 1),
        [200],
        "the route keeps its own script"
    );
}

#[test]
fn never_answer_holds_the_connection_until_the_receiver_drops() {
    let receiver = Receiver::start(Script::never_answer());
    let mut stream = TcpStream::connect(receiver.addr()).unwrap();
    stream
        .write_all(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    receiver.wait_for_requests(1, WAIT);

    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    let error = stream.read(&mut byte).expect_err("no answer may come");
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{error}"
    );

    drop(receiver);
    stream.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(
        stream.read(&mut byte).unwrap(),
        0,
        "closed without a reply once dropped"
    );
}

#[test]
fn keep_alive_connections_and_chunked_bodies_are_understood() {
    let receiver = Receiver::start(Script::always(200, "ok"));
    let mut stream = TcpStream::connect(receiver.addr()).unwrap();
    stream
        .write_all(
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n\
              GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut replies = String::new();
    stream.read_to_string(&mut replies).unwrap();
    assert_eq!(replies.matches("HTTP/1.1 200 OK").count(), 2, "{replies}");

    let requests = receiver.wait_for_requests(2, WAIT);
    assert_eq!(
        (requests[0].path.as_str(), requests[0].text().as_str()),
        ("/a", "hello world")
    );
    assert_eq!(
        (requests[1].method.as_str(), requests[1].path.as_str()),
        ("GET", "/b")
    );
}

#[test]
fn wait_for_requests_names_what_did_arrive_when_it_gives_up() {
    let receiver = Receiver::start(Script::always(200, "ok"));
    statuses(&receiver, "/only-one", 1);
    let failure = std::panic::catch_unwind(AssertUnwindSafe(|| {
        receiver.wait_for_requests(2, Duration::from_millis(200))
    }))
    .unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("1 of 2") && message.contains("POST /only-one"),
        "{message}"
    );
}

#[test]
fn alertmanager_webhooks_arrive_as_json() {
    let receiver = Receiver::start(Script::always(200, "ok"));
    let alertmanager = Alertmanager::start_with_webhook(&format!("{}/alerts", receiver.url()));
    alertmanager.post_alert(
        &[("alertname", "GateFailed"), ("env", "green")],
        &[],
        None,
        None,
    );

    let requests = receiver.wait_for_requests(1, Duration::from_secs(20));
    let webhook = requests[0].json();
    assert_eq!(requests[0].path, "/alerts");
    assert_eq!(webhook["status"], "firing", "{webhook}");
    assert_eq!(webhook["alerts"][0]["labels"]["alertname"], "GateFailed");
}
