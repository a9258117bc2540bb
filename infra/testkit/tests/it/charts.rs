//! The chart fixtures stay lint-clean for both helms and render what other tests rely on, and
//! ChartRepo serves them to helm until stopped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::charts::{ChartRepo, fixtures_dir, sha256_digest};
use testkit::net::http;
use testkit::tools::{self, helm_command};

fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("Chart.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn output(mut command: Command) -> (bool, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned() + &String::from_utf8_lossy(&stderr),
    )
}

/// Runs helm with an isolated home, from `cwd` (helm 3 prefers a same-named directory in the
/// working directory over `--repo`, so never run it from the fixtures' parent).
fn helm(bin: &Path, home: &Path, cwd: &Path, args: &[&str]) -> (bool, String) {
    let mut command = helm_command(bin, home);
    command.current_dir(cwd).args(args);
    output(command)
}

fn template(chart: &str, release: &str, extra: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let path = fixture(chart);
    let mut args = vec!["template", release, path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (ok, out) = helm(&tools::helm4(), home.path(), home.path(), &args);
    assert!(ok, "helm template {chart} failed:\n{out}");
    out
}

/// `helm pull web --repo URL --version 1.1.0 -d DEST`, run from `work` with `work` as helm's home.
fn pull_web_1_1_0(bin: &Path, work: &Path, repo_url: &str, dest: &Path) -> (bool, String) {
    std::fs::create_dir_all(dest).unwrap(); // helm 3 does not create it
    let dest = dest.to_str().unwrap();
    helm(
        bin,
        work,
        work,
        &[
            "pull",
            "web",
            "--repo",
            repo_url,
            "--version",
            "1.1.0",
            "-d",
            dest,
        ],
    )
}

#[test]
fn every_fixture_lints_clean_and_packages_with_helm3_and_helm4() {
    let dirs = fixture_dirs();
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["api", "ingress", "ledger", "web-1.0.0", "web-1.1.0", "worker"]
    );

    let work = tempfile::tempdir().unwrap();
    for helm_bin in [tools::helm3(), tools::helm4()] {
        for dir in &dirs {
            let dir = dir.to_str().unwrap();
            let (ok, out) = helm(
                &helm_bin,
                work.path(),
                work.path(),
                &["lint", "--strict", dir],
            );
            assert!(ok, "{} lint {dir} failed:\n{out}", helm_bin.display());
            assert!(
                !out.contains("[WARNING]") && !out.contains("[ERROR]"),
                "{} lint {dir}:\n{out}",
                helm_bin.display()
            );

            let out_dir = work.path().join("packages");
            let (ok, out) = helm(
                &helm_bin,
                work.path(),
                work.path(),
                &["package", dir, "-d", out_dir.to_str().unwrap()],
            );
            assert!(ok, "{} package {dir} failed:\n{out}", helm_bin.display());
        }
    }
}

#[test]
fn fixtures_render_the_objects_other_tests_rely_on() {
    let web = template("web-1.0.0", "web", &["--set", "message=hi there"]);
    assert!(
        web.contains("kind: Service")
            && web.contains("type: LoadBalancer")
            && web.contains("port: 8080"),
        "{web}"
    );
    assert!(
        web.contains("value: \"hi there\""),
        "message reaches the pods:\n{web}"
    );
    assert!(!web.contains("LOG_LEVEL"), "{web}");
    assert!(fixture("web-1.0.0/templates/NOTES.txt").is_file());

    let web_next = template("web-1.1.0", "web", &[]);
    assert!(
        web_next.contains("name: LOG_LEVEL") && web_next.contains("example.com/cutover/web:1.1.0"),
        "{web_next}"
    );

    let api = template("api", "api", &[]);
    for kind in [
        "kind: Deployment",
        "kind: Service",
        "kind: ConfigMap",
        "type: ClusterIP",
        "checksum/config",
    ] {
        assert!(api.contains(kind), "api lacks {kind}:\n{api}");
    }

    let worker = template("worker", "jobs", &[]);
    assert!(
        worker.contains("name: jobs-worker") && worker.contains("name: jobs-queue"),
        "subchart renders:\n{worker}"
    );
    let worker_alone = template("worker", "jobs", &["--set", "queue.enabled=false"]);
    assert!(
        !worker_alone.contains("jobs-queue"),
        "queue.enabled=false drops the subchart:\n{worker_alone}"
    );

    let ingress = template("ingress", "edge", &["--namespace", "ingress"]);
    assert!(
        ingress.contains("name: ingress-nginx-controller"),
        "{ingress}"
    );
    assert!(
        ingress.contains("type: LoadBalancer") && ingress.contains("port: 8080"),
        "{ingress}"
    );
}

#[test]
fn chart_repo_serves_the_fixtures_to_helm_until_stopped() {
    let mut repo = ChartRepo::start(fixtures_dir());
    let listed: Vec<String> = repo
        .packages()
        .iter()
        .map(|p| format!("{}@{}", p.name, p.version))
        .collect();
    assert_eq!(
        listed,
        [
            "api@2.4.1",
            "ingress@4.11.3",
            "ledger@0.1.0",
            "web@1.0.0",
            "web@1.1.0",
            "worker@0.3.0"
        ]
    );

    let index = http("GET", &format!("{}/index.yaml", repo.url()), b"").unwrap();
    assert_eq!(index.status, 200);
    let index = index.text();
    for package in repo.packages() {
        assert_eq!(package.digest, sha256_digest(&package.path));
        let hex = package.digest.strip_prefix("sha256:").unwrap();
        assert!(
            index.contains(hex),
            "index.yaml lists the digest of {}:\n{index}",
            package.name
        );
        assert!(
            index.contains(&format!(
                "{}/{}-{}.tgz",
                repo.url(),
                package.name,
                package.version
            )),
            "{index}"
        );
    }

    let work = tempfile::tempdir().unwrap();
    let web = repo.package("web", "1.1.0").clone();
    for (helm_bin, dest) in [(tools::helm3(), "pulled3"), (tools::helm4(), "pulled4")] {
        let dest = work.path().join(dest);
        let (ok, out) = pull_web_1_1_0(&helm_bin, work.path(), repo.url(), &dest);
        assert!(ok, "{} pull failed:\n{out}", helm_bin.display());
        assert_eq!(
            sha256_digest(&dest.join("web-1.1.0.tgz")),
            web.digest,
            "the pulled archive is the packaged one"
        );
    }

    repo.stop();
    assert!(!repo.is_serving());
    assert!(web.path.is_file(), "packages stay on disk after stop");
    let dest = work.path().join("after-stop");
    let (ok, out) = pull_web_1_1_0(&tools::helm3(), work.path(), repo.url(), &dest);
    assert!(!ok, "a pull from a stopped repository must fail:\n{out}");
}
