//! The moto server of scripts/install-tools.sh (EKS conformance, and EC2 for the EBS driver).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::eventually;

/// The moto server of scripts/install-tools.sh, killed when dropped.
pub struct Moto {
    child: tokio::process::Child,
    pub addr: SocketAddr,
}

impl Moto {
    pub async fn start() -> Moto {
        let tools = std::env::var_os("CUTOVER_TOOLS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var("HOME").expect("HOME is set"))
                    .join(".cache/cutover/tools")
            });
        let bin = tools.join("venv/bin/moto_server");
        assert!(
            bin.exists(),
            "moto_server not found at {}: run scripts/install-tools.sh",
            bin.display()
        );
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let child = tokio::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e}; run scripts/install-tools.sh",
                    bin.display()
                )
            });
        eventually(
            "moto_server accepting connections",
            Duration::from_secs(60),
            || async { tokio::net::TcpStream::connect(addr).await.ok().map(|_| ()) },
        )
        .await;
        Moto { child, addr }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Moto {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
