//! The moto server starts, answers its control API, resets, and dies with its guard.

use std::time::Duration;

use testkit::moto::Moto;
use testkit::net::http;

#[test]
fn moto_starts_answers_resets_and_stops_on_drop() {
    let moto = Moto::start();
    let endpoint = moto.endpoint();
    assert_eq!(endpoint, format!("http://127.0.0.1:{}", moto.port()));

    // Make some state, see it, reset, see it gone: proves both the S3 API and reset work.
    let create = http("PUT", &format!("{endpoint}/testkit-bucket"), b"").unwrap();
    assert_eq!(create.status, 200, "{}", create.text());
    let listed = http("GET", &format!("{endpoint}/"), b"").unwrap();
    assert!(
        listed.text().contains("testkit-bucket"),
        "{}",
        listed.text()
    );

    moto.reset();
    let listed = http("GET", &format!("{endpoint}/"), b"").unwrap();
    assert_eq!(listed.status, 200);
    assert!(
        !listed.text().contains("testkit-bucket"),
        "reset must clear S3: {}",
        listed.text()
    );

    let env = moto.aws_env();
    assert!(env.contains(&("AWS_ENDPOINT_URL", endpoint.clone())));

    let addr = format!("127.0.0.1:{}", moto.port()).parse().unwrap();
    drop(moto);
    assert!(
        testkit::wait_for_port(addr, Duration::from_millis(200)).is_err(),
        "the server must be gone after drop"
    );
}
