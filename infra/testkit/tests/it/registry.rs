//! The OCI registry takes a chart pushed with helm 4 and serves it back to helm 4 and helm 3.

use std::path::Path;
use std::process::Command;

use testkit::charts::{fixtures_dir, sha256_digest};
use testkit::registry::OciRegistry;
use testkit::tools::{self, helm_command};

fn run_helm(bin: &Path, home: &Path, args: &[&str]) -> String {
    let mut command: Command = helm_command(bin, home);
    command.current_dir(home).args(args);
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} {args:?} failed:\n{text}",
        bin.display()
    );
    text
}

#[test]
fn charts_pushed_to_the_registry_pull_back_identical_with_both_helms() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path();
    let packages = home.join("packages");
    let packages_str = packages.to_str().unwrap();
    for chart in ["web-1.0.0", "api"] {
        let source = fixtures_dir().join(chart);
        run_helm(
            &tools::helm4(),
            home,
            &["package", source.to_str().unwrap(), "-d", packages_str],
        );
    }
    let web_tgz = packages.join("web-1.0.0.tgz");

    let registry = OciRegistry::start();
    let pushed = registry.push(&web_tgz);
    assert_eq!(
        pushed.reference,
        format!("oci://{}/charts/web", registry.addr())
    );
    assert_eq!(pushed.version, "1.0.0");
    assert!(
        pushed.digest.starts_with("sha256:") && pushed.digest.len() == 71,
        "{pushed:?}"
    );
    let api = registry.push_with(&tools::helm3(), &packages.join("api-2.4.1.tgz"));
    assert_eq!(
        api.reference,
        format!("oci://{}/charts/api", registry.addr())
    );

    for (helm_bin, dest) in [(tools::helm4(), "pulled4"), (tools::helm3(), "pulled3")] {
        let dest = home.join(dest);
        std::fs::create_dir_all(&dest).unwrap(); // helm 3 does not create it
        let out = run_helm(
            &helm_bin,
            home,
            &[
                "pull",
                &pushed.reference,
                "--version",
                "1.0.0",
                "--plain-http",
                "-d",
                dest.to_str().unwrap(),
            ],
        );
        assert!(
            out.contains(&pushed.digest),
            "helm reports the manifest digest:\n{out}"
        );
        assert_eq!(
            sha256_digest(&dest.join("web-1.0.0.tgz")),
            sha256_digest(&web_tgz)
        );
    }
}
