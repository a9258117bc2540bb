//! [`Moto`]: a moto server (the AWS stand-in) on a free loopback port, for one test.

use std::time::Duration;

use crate::net::http;
use crate::process::Process;
use crate::tools;

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `moto_server`. Dropping it kills the server.
pub struct Moto {
    process: Process,
    port: u16,
}

impl Moto {
    /// Starts a server with empty state and waits until it answers.
    pub fn start() -> Moto {
        let moto_server = tools::moto_server();
        let (process, port) = Process::spawn_listening("moto", START_TIMEOUT, |port| {
            let mut command = std::process::Command::new(&moto_server);
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        });
        Moto { process, port }
    }

    /// Starts a server that answers one request at a time. moto's threaded server checks S3's
    /// `If-None-Match`/`If-Match` and then writes, so two racing conditional writes can both land;
    /// S3 itself decides each key atomically. Tests of conditional-write races (locks, leases) use
    /// this one, which is as atomic per request as S3 is per key.
    pub fn start_serialized() -> Moto {
        let python = tools::moto_server().with_file_name("python");
        let (process, port) = Process::spawn_listening("moto-serial", START_TIMEOUT, |port| {
            let mut command = std::process::Command::new(&python);
            command.env("MOTO_PORT", port.to_string()).args([
                "-c",
                "import os\n\
                 from werkzeug.serving import run_simple\n\
                 from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app\n\
                 run_simple('127.0.0.1', int(os.environ['MOTO_PORT']), DomainDispatcherApplication(create_backend_app), \
                 threaded=False, use_reloader=False, request_handler=MotoRequestHandler)",
            ]);
            command
        });
        Moto { process, port }
    }

    /// The endpoint URL for every service: `http://127.0.0.1:PORT`. Use an IP, not `localhost`, so
    /// the S3 client picks path-style addressing by itself.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Environment for an AWS SDK client (or the cutover binary) aimed at this server: the shared
    /// endpoint, a region and dummy credentials (moto accepts any).
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// Clears every service's state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let url = format!("{}/moto-api/reset", self.endpoint());
        match http("POST", &url, b"") {
            Ok(response) if response.status == 200 => {}
            Ok(response) => panic!(
                "moto reset answered {}: {}\n{}",
                response.status,
                response.text(),
                self.process.log_report()
            ),
            Err(e) => panic!("moto reset failed: {e}\n{}", self.process.log_report()),
        }
    }

    /// The guarded server process (log, pid, liveness).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}
