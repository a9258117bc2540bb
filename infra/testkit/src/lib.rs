//! testkit: shared support for cutover's and cloudsim's integration tests.
//!
//! It starts the third-party stand-ins that `scripts/install-tools.sh` installs, each as a
//! [`Process`] guard that kills the child (and whatever it started) when the test ends and keeps
//! its log when the test fails:
//! - [`tools`]: where the pinned binaries are (`helm3`, `helm4`, `kubectl`, `moto_server`, and from
//!   Debian `docker-registry`, `prometheus`, `prometheus-alertmanager`, `chromium`, `chromedriver`).
//! - [`moto`]: a moto server (AWS stand-in for Route53, S3, STS, EKS request shapes).
//! - [`charts`]: a static Helm chart repository built from chart sources (e.g. `infra/charts`).
//! - [`registry`]: Debian's OCI registry, for `oci://` charts.
//! - [`prometheus`]: a real Prometheus scraping loopback targets each second, with rule files and
//!   an Alertmanager if asked; instant queries and waiting for a query's result (metric gates).
//! - [`alertmanager`]: a real Alertmanager, clustering off; post alerts, silence, list (alert gates).
//! - [`browser`]: chromedriver plus the capabilities for headless Debian Chromium (dashboard tests,
//!   driven by a WebDriver client such as fantoccini), and where screenshots go.
//!
//! And two in-process helpers:
//! - [`receiver`]: a recording HTTP server answering from a script (always, fail a few times,
//!   `Retry-After`, never), for notification and webhook tests.
//! - [`net`]: free ports, waiting for a port, and a tiny HTTP/1.0 client for control endpoints.
//!
//! Typical use, as a dev-dependency (`testkit = { path = "infra/testkit" }`):
//!
//! ```text
//! let moto = testkit::moto::Moto::start();              // killed when `moto` drops
//! let mut repo = testkit::charts::ChartRepo::start(testkit::charts::fixtures_dir());
//! let web = repo.package("web", "1.0.0");                // name, version, path, digest
//! // ... point the code under test at moto.endpoint() and repo.url() ...
//! repo.stop();                                           // prove nothing needs the repository now
//!
//! let hook = testkit::receiver::Receiver::start(Script::fail_then(500, 2, 200));
//! // ... run the code that notifies hook.url() ...
//! let sent = hook.wait_for_requests(3, Duration::from_secs(10));   // two failures, one success
//! ```
//!
//! Everything here panics with a message saying what to do instead of returning errors: it only
//! runs inside tests, where a panic is the failure report.

pub mod alertmanager;
pub mod browser;
pub mod charts;
pub mod moto;
pub mod net;
pub mod process;
pub mod prometheus;
pub mod receiver;
pub mod registry;
pub mod tools;

pub use net::{free_port, wait_for_port};
pub use process::Process;
