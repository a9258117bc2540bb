//! Pure checks for single values (names, versions, ARNs, CIDRs, digests): each returns the
//! sentence a plan author needs, without location; `validate` adds the place.
//!
//! Hand-written matchers rather than a regex crate: the rules are short, and each failure mode
//! gets its own advice (`drop the v`, `pin an exact version`) which a regex match cannot give.

fn all(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().all(ok)
}

fn alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// A version as helm and charts print it, for comparing: `v3.19.0+g3d8990f` → `3.19.0`;
/// `4.1.4` → `4.1.4`.
pub fn normalize_version(v: &str) -> &str {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    v.split('+').next().unwrap_or(v)
}

/// EKS cluster names: 1–100 characters, starting with a letter or digit, then `[A-Za-z0-9_-]`.
pub fn cluster_name(s: &str) -> Result<(), String> {
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if s.is_empty()
        || s.len() > 100
        || !first_ok
        || !all(s, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{s:?} is not a valid EKS cluster name; use 1–100 letters, digits, `-` or `_`, starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Node group names follow the cluster-name alphabet with EKS's 63-character limit.
pub fn nodegroup_name(s: &str) -> Result<(), String> {
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if s.is_empty()
        || s.len() > 63
        || !first_ok
        || !all(s, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{s:?} is not a valid node group name; use 1–63 letters, digits, `-` or `_`, starting with a letter or digit"
        ));
    }
    Ok(())
}

/// RFC 1123 label: Kubernetes namespaces, the plan's own name.
pub fn dns_label(s: &str, what: &str) -> Result<(), String> {
    let ends_ok = s.starts_with(alnum_lower) && s.ends_with(alnum_lower);
    if s.is_empty() || s.len() > 63 || !ends_ok || !all(s, |c| alnum_lower(c) || c == '-') {
        return Err(format!(
            "{s:?} is not a valid {what}; use 1–63 lowercase letters, digits or `-`, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A Kubernetes object name that is a DNS subdomain (claims, storage classes): dot-separated
/// RFC 1123 labels, at most 253 characters.
pub fn dns_subdomain(s: &str, what: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 || !s.split('.').all(|l| dns_label(l, "").is_ok()) {
        return Err(format!(
            "{s:?} is not a valid {what}; use at most 253 lowercase letters, digits, `-` or `.`, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Helm release names: dot-separated RFC 1123 labels, at most 53 characters.
pub fn release_name(s: &str) -> Result<(), String> {
    let labels_ok = s.split('.').all(|l| dns_label(l, "").is_ok());
    if s.is_empty() || s.len() > 53 || !labels_ok {
        return Err(format!(
            "{s:?} is not a valid Helm release name; use at most 53 lowercase letters, digits, `-` or `.`, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Names of checks, which gates refer to.
pub fn health_check_name(s: &str) -> Result<(), String> {
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if s.is_empty()
        || s.len() > 63
        || !first_ok
        || !all(s, |c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "{s:?} is not a valid check name; use 1–63 letters, digits, `-`, `_` or `.`"
        ));
    }
    Ok(())
}

/// A Kubernetes minor version as EKS takes it: `"1.32"`.
pub fn kube_version(s: &str) -> Result<(u32, u32), String> {
    let parse = |t: &str| -> Option<(u32, u32)> {
        let (a, b) = t.split_once('.')?;
        let num = |x: &str| {
            (!x.is_empty() && all(x, |c| c.is_ascii_digit()) && (x == "0" || !x.starts_with('0')))
                .then(|| x.parse().ok())
                .flatten()
        };
        Some((num(a)?, num(b)?))
    };
    if let Some(v) = parse(s) {
        if v.0 == 0 {
            return Err(format!(
                "{s:?} is not a Kubernetes version; write major.minor like \"1.32\""
            ));
        }
        return Ok(v);
    }
    if let Some(rest) = s.strip_prefix(['v', 'V'])
        && parse(rest).is_some()
    {
        return Err(format!("{s:?}: drop the `v`: \"{rest}\""));
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() == 3 && parse(&format!("{}.{}", parts[0], parts[1])).is_some() {
        return Err(format!(
            "{s:?}: EKS takes the minor version only: \"{}.{}\"",
            parts[0], parts[1]
        ));
    }
    Err(format!(
        "{s:?} is not a Kubernetes version; write major.minor like \"1.32\""
    ))
}

const RANGE_MARKERS: [&str; 10] = ["^", "~", ">", "<", "=", "*", "||", ",", " ", "!"];

/// An exact chart (or helm) version: SemVer `MAJOR.MINOR.PATCH[-pre][+build]`, optionally with a
/// leading `v` (some charts publish `v1.2.3`, and Helm treats it as the same exact version).
pub fn exact_version(s: &str) -> Result<(), String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("the version is empty; pin an exact version such as 1.2.3".into());
    }
    if ["latest", "stable", "head", "main", "master"].contains(&t.to_lowercase().as_str()) {
        return Err(format!(
            "{s:?} is not a version; pin an exact version such as 1.2.3"
        ));
    }
    let core_end = t.find(['-', '+']).unwrap_or(t.len());
    let core = t[..core_end]
        .strip_prefix(['v', 'V'])
        .unwrap_or(&t[..core_end]);
    let wildcard = core.split('.').any(|p| matches!(p, "x" | "X" | "*"));
    if wildcard || RANGE_MARKERS.iter().any(|m| t.contains(m)) {
        return Err(format!("{s:?} is a range; pin an exact version"));
    }
    let numeric = |p: &str| {
        !p.is_empty() && all(p, |c| c.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    if !parts.iter().all(|p| numeric(p)) {
        return Err(format!(
            "{s:?} is not a version; pin an exact version such as 1.2.3"
        ));
    }
    if parts.len() < 3 {
        let padded = format!("{}{}", core, ".0".repeat(3 - parts.len()));
        return Err(format!(
            "{s:?} is a range (any {core}.x); pin an exact version such as {padded}"
        ));
    }
    if parts.len() > 3 {
        return Err(format!(
            "{s:?} is not a SemVer version; use MAJOR.MINOR.PATCH such as 1.2.3"
        ));
    }
    let tail = &t[core_end..];
    let (pre, build) = match tail.split_once('+') {
        Some((p, b)) => (p, Some(b)),
        None => (tail, None),
    };
    let ident_ok = |x: &str| {
        !x.is_empty()
            && x.split('.')
                .all(|i| !i.is_empty() && all(i, |c| c.is_ascii_alphanumeric() || c == '-'))
    };
    if let Some(p) = pre.strip_prefix('-') {
        if !ident_ok(p) {
            return Err(format!(
                "{s:?} has an invalid pre-release part; use letters, digits, `-` and `.`"
            ));
        }
    } else if !pre.is_empty() {
        return Err(format!(
            "{s:?} is not a SemVer version; use MAJOR.MINOR.PATCH such as 1.2.3"
        ));
    }
    if build.is_some_and(|b| !ident_ok(b)) {
        return Err(format!(
            "{s:?} has an invalid build part; use letters, digits, `-` and `.`"
        ));
    }
    Ok(())
}

/// `sha256:` and 64 lowercase hex digits; returns the hex.
pub fn digest(s: &str) -> Result<String, String> {
    let Some(hex) = s.strip_prefix("sha256:") else {
        return Err(format!(
            "{s:?} is not a digest; write sha256: followed by 64 lowercase hex digits"
        ));
    };
    if hex.len() != 64 || !all(hex, |c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "the digest has {} characters after sha256:; it needs exactly 64 hex digits",
            hex.chars().count()
        ));
    }
    if hex.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("the digest must be lowercase hex (as `sha256sum` prints it)".into());
    }
    Ok(hex.to_owned())
}

/// AWS regions: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-5`.
pub fn region(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && all(parts[0], |c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && all(p, |c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && all(p, |c| c.is_ascii_digit()));
    if !ok {
        return Err(format!(
            "{s:?} is not an AWS region; write one like us-east-1"
        ));
    }
    Ok(())
}

fn partition_ok(p: &str) -> bool {
    matches!(p, "aws" | "aws-cn" | "aws-us-gov") || p.starts_with("aws-iso")
}

/// `arn:aws:iam::123456789012:role/name` (and `user/` where `users` is true).
pub fn iam_arn(s: &str, users: bool) -> Result<(), String> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let kinds: &[&str] = if users {
        &["role/", "user/"]
    } else {
        &["role/"]
    };
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && partition_ok(parts[1])
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && all(parts[4], |c| c.is_ascii_digit())
        && kinds
            .iter()
            .any(|k| parts[5].strip_prefix(k).is_some_and(|n| !n.is_empty()));
    if !ok {
        let example = if users {
            "an IAM role or user ARN"
        } else {
            "an IAM role ARN"
        };
        return Err(format!(
            "{s:?} is not {example}; write one like arn:aws:iam::111122223333:role/NAME"
        ));
    }
    Ok(())
}

/// `arn:aws:eks::aws:cluster-access-policy/NAME`.
pub fn access_policy_arn(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && partition_ok(parts[1])
        && parts[2] == "eks"
        && parts[3].is_empty()
        && parts[4] == "aws"
        && parts[5]
            .strip_prefix("cluster-access-policy/")
            .is_some_and(|n| !n.is_empty());
    if !ok {
        return Err(format!(
            "{s:?} is not an EKS access policy ARN; write one like arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
        ));
    }
    Ok(())
}

/// `subnet-0a1b2c` / `sg-0a1b2c`.
pub fn aws_id(s: &str, prefix: &str) -> Result<(), String> {
    let ok = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|h| {
            !h.is_empty() && all(h, |c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        });
    if !ok {
        return Err(format!(
            "{s:?} is not a {prefix} id; write one like {prefix}-0123abcd"
        ));
    }
    Ok(())
}

/// EC2 instance types: `m6i.large`, `c7g.2xlarge`.
pub fn instance_type(s: &str) -> Result<(), String> {
    let ok = s.split_once('.').is_some_and(|(f, z)| {
        !f.is_empty()
            && !z.is_empty()
            && all(f, |c| alnum_lower(c) || c == '-')
            && all(z, alnum_lower)
    });
    if !ok {
        return Err(format!(
            "{s:?} is not an EC2 instance type; write one like m6i.large"
        ));
    }
    Ok(())
}

/// An IPv4 or IPv6 CIDR such as `203.0.113.0/24`.
pub fn cidr(s: &str) -> Result<(), String> {
    let ok = s.split_once('/').is_some_and(|(ip, bits)| {
        match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
            (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32 && !bits.starts_with('+'),
            (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128 && !bits.starts_with('+'),
            _ => false,
        }
    });
    if !ok {
        return Err(format!(
            "{s:?} is not a CIDR; write one like 203.0.113.0/24"
        ));
    }
    Ok(())
}

/// A DNS name: dot-separated labels of letters, digits, `-`, `_` (1–63 each, 253 total), at
/// least two labels; `wildcard` allows a leading `*.`; a trailing dot is accepted.
pub fn hostname(s: &str, wildcard: bool) -> Result<(), String> {
    let body = s.strip_suffix('.').unwrap_or(s);
    let body = if wildcard {
        body.strip_prefix("*.").unwrap_or(body)
    } else {
        body
    };
    let labels: Vec<&str> = body.split('.').collect();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && all(l, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if s.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
        return Err(format!(
            "{s:?} is not a DNS name; write one like api.example.com"
        ));
    }
    Ok(())
}

/// Route53 hosted zone names: a DNS name of dot-separated labels (letters, digits, `-`), a
/// trailing dot optional.
pub fn zone_name(s: &str) -> Result<(), String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253 || !name.contains('.') || !name.split('.').all(label_ok) {
        return Err(format!("{s:?} is not a DNS zone name; write one like example.com"));
    }
    Ok(())
}

/// Route53 hosted zone ids: `Z` followed by upper-case letters and digits.
pub fn zone_id(s: &str) -> Result<(), String> {
    if let Some(id) = s.strip_prefix("/hostedzone/") {
        return Err(format!("{s:?}: write the bare zone id: {id}"));
    }
    let ok = s.len() >= 2
        && s.len() <= 32
        && s.starts_with('Z')
        && all(s, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        return Err(format!(
            "{s:?} is not a Route53 hosted zone id; write one like Z0123456789ABC"
        ));
    }
    Ok(())
}

/// S3 bucket names: 3–63 of `[a-z0-9.-]`, starting and ending with a letter or digit.
pub fn s3_bucket(s: &str) -> Result<(), String> {
    let ok = s.len() >= 3
        && s.len() <= 63
        && s.starts_with(alnum_lower)
        && s.ends_with(alnum_lower)
        && all(s, |c| alnum_lower(c) || c == '.' || c == '-')
        && !s.contains("..")
        && s.parse::<std::net::Ipv4Addr>().is_err();
    if !ok {
        return Err(format!(
            "{s:?} is not a valid S3 bucket name; use 3–63 lowercase letters, digits, `.` or `-`, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// `http://` or `https://` followed by a host.
pub fn http_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    if !host.is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace)) {
        return Err(format!(
            "{s:?} is not an http(s) URL; write one like https://charts.example.com"
        ));
    }
    Ok(())
}

/// `oci://registry/path/chart` without a tag or digest (the version comes from `version`).
pub fn oci_ref(s: &str) -> Result<(), String> {
    let Some(rest) = s.strip_prefix("oci://") else {
        return Err(format!(
            "{s:?} is not an OCI reference; write one like oci://registry.example.com/charts/api"
        ));
    };
    let Some((registry, repo)) = rest.split_once('/') else {
        return Err(format!(
            "{s:?} names no chart; write one like oci://registry.example.com/charts/api"
        ));
    };
    if registry.is_empty() || repo.is_empty() || repo.ends_with('/') {
        return Err(format!(
            "{s:?} is not an OCI reference; write one like oci://registry.example.com/charts/api"
        ));
    }
    if repo.contains('@')
        || repo
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        return Err(format!(
            "{s:?} carries a tag or digest; remove it and set `version` (and `digest`) instead"
        ));
    }
    Ok(())
}

/// A Kubernetes label or taint key: optional `prefix/` (a DNS subdomain) and a name of at most
/// 63 characters.
pub fn label_key(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty() && p.len() <= 253 && p.split('.').all(|l| dns_label(l, "").is_ok())
    });
    if !prefix_ok || label_value(name).is_err() || name.is_empty() {
        return Err(format!(
            "{s:?} is not a valid Kubernetes label key; use an optional DNS prefix and `/`, then 1–63 letters, digits, `-`, `_` or `.`"
        ));
    }
    Ok(())
}

/// A Kubernetes label value: empty, or at most 63 of `[A-Za-z0-9-_.]` starting and ending alphanumeric.
pub fn label_value(s: &str) -> Result<(), String> {
    let ok = s.is_empty()
        || (s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            && all(s, |c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    if !ok {
        return Err(format!(
            "{s:?} is not a valid Kubernetes label value; use at most 63 letters, digits, `-`, `_` or `.`"
        ));
    }
    Ok(())
}

/// An environment variable name.
pub fn env_name(s: &str) -> Result<(), String> {
    let ok = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && all(s, |c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(format!(
            "{s:?} is not an environment variable name; use letters, digits and `_`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in [
            "4.11.3",
            "v1.2.3",
            "0.1.0",
            "1.0.0-rc.1",
            "1.0.0+build.5",
            "1.0.0-alpha-2+x",
        ] {
            assert_eq!(exact_version(ok), Ok(()), "{ok}");
        }
        assert!(
            exact_version("^1.2")
                .unwrap_err()
                .contains("is a range; pin an exact version")
        );
        for range in [
            "~1.2.3",
            ">=1.0.0",
            "1.2.x",
            "*",
            "1.0.0 || 2.0.0",
            "1.2.3 - 1.4.0",
            "<2",
        ] {
            assert!(
                exact_version(range).unwrap_err().contains("range"),
                "{range}"
            );
        }
        assert!(exact_version("1.2").unwrap_err().contains("such as 1.2.0"));
        assert!(
            exact_version("latest")
                .unwrap_err()
                .contains("not a version")
        );
        assert!(exact_version("01.2.3").is_err());
        assert!(exact_version("1.2.3.4").is_err());
    }

    #[test]
    fn kube_versions() {
        assert_eq!(kube_version("1.32"), Ok((1, 32)));
        assert!(kube_version("v1.32").unwrap_err().contains("drop the `v`"));
        assert!(kube_version("1.32.1").unwrap_err().contains("\"1.32\""));
        assert!(kube_version("1.3x").is_err());
        assert!(kube_version("0.9").is_err());
    }

    #[test]
    fn names_and_ids() {
        assert!(cluster_name("payments-1_32").is_ok());
        assert!(cluster_name("-x").is_err());
        assert!(cluster_name(&"a".repeat(101)).is_err());
        assert!(cluster_name(&"a".repeat(100)).is_ok());
        assert!(region("us-gov-west-1").is_ok());
        assert!(region("useast1").is_err());
        assert!(iam_arn("arn:aws:iam::111122223333:role/eks", false).is_ok());
        assert!(iam_arn("arn:aws:iam::111122223333:user/me", false).is_err());
        assert!(iam_arn("arn:aws:iam::111122223333:user/me", true).is_ok());
        assert!(digest(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(
            digest(&format!("sha256:{}", "A".repeat(64)))
                .unwrap_err()
                .contains("lowercase")
        );
        assert!(
            oci_ref("oci://r.example.com/charts/api:1.0")
                .unwrap_err()
                .contains("tag")
        );
        assert!(oci_ref("oci://127.0.0.1:5000/charts/api").is_ok());
        assert!(hostname("api.example.com", false).is_ok());
        assert!(hostname("*.example.com", true).is_ok());
        assert!(hostname("localhost", false).is_err());
        assert!(cidr("203.0.113.0/24").is_ok());
        assert!(cidr("203.0.113.0/33").is_err());
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(s3_bucket("my.state-bucket").is_ok());
        assert!(s3_bucket("My_Bucket").is_err());
    }
}
