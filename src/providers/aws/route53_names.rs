//! Route53 naming rules the traffic provider needs: how record names compare (case-insensitive,
//! trailing dot optional, `\ddd` escapes as Route53 returns them) and which hosted zone an alias
//! target lives in.
//!
//! An alias record (A/AAAA to a load balancer) must name the hosted zone of its target. For
//! Elastic Load Balancing that zone is fixed per region and load balancer family; the table below
//! is AWS's published list ("Elastic Load Balancing endpoints and quotas",
//! https://docs.aws.amazon.com/general/latest/gr/elb.html): Application and Classic Load
//! Balancers share one column, Network Load Balancers have their own. The family shows in the
//! hostname: `<name>-<id>.<region>.elb.amazonaws.com` (ALB/CLB) versus
//! `<name>-<id>.elb.<region>.amazonaws.com` (NLB), either optionally prefixed `dualstack.`.

/// (region, ALB/CLB zone, NLB zone).
const ELB_ZONES: &[(&str, &str, &str)] = &[
    ("af-south-1", "Z268VQBMOI5EKX", "Z203XCE67M25HM"),
    ("ap-east-1", "Z3DQVH9N71FHZ0", "Z12Y7K3UBGUAD1"),
    ("ap-northeast-1", "Z14GRHDCWA56QT", "Z31USIVHYNEOWT"),
    ("ap-northeast-2", "ZWKZPGTI48KDX", "ZIBE1TIR4HY56"),
    ("ap-northeast-3", "Z5LXEXXYW11ES", "Z1GWIQ4HH19I5X"),
    ("ap-south-1", "ZP97RAFLXTNZK", "ZVDDRBQ08TROA"),
    (
        "ap-south-2",
        "Z0173938T07WNTVAEPZN",
        "Z0711778386UTO08407HT",
    ),
    ("ap-southeast-1", "Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"),
    ("ap-southeast-2", "Z1GM3OXH4ZPM65", "ZCT6FZBF4DROD"),
    (
        "ap-southeast-3",
        "Z08888821HLRG5A9ZRTER",
        "Z01971771FYVNCOVWJU1G",
    ),
    ("ca-central-1", "ZQSVJUPU6J1EY", "Z2EPGBW3API2WT"),
    ("cn-north-1", "Z1GDH35T77C1KE", "Z3QFB96KMJ7ED6"),
    ("cn-northwest-1", "ZM7IZAIOVVDZF", "ZQEIKTCZ8352D"),
    ("eu-central-1", "Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"),
    (
        "eu-central-2",
        "Z06391101F2ZOEP8P5EB3",
        "Z02239872DOALSIDCX66S",
    ),
    ("eu-north-1", "Z23TAZ6LKFMNIO", "Z1UDT6IFJ4EJM"),
    ("eu-south-1", "Z3ULH7SSC9OV64", "Z23146JA1KNAFP"),
    (
        "eu-south-2",
        "Z0956581394HF5D5LXGAP",
        "Z1011216NVTVYADP1SSV",
    ),
    ("eu-west-1", "Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"),
    ("eu-west-2", "ZHURV8PSTC4K8", "ZD4D7Y8KGAS4G"),
    ("eu-west-3", "Z3Q77PNBQS71R4", "Z1CMS0P5QUZ6D5"),
    (
        "me-central-1",
        "Z08230872XQRWHG2XF6I",
        "Z00282643NTTLPANJJG2P",
    ),
    ("me-south-1", "ZS929ML54UICD", "Z3QSRYVP46NYYV"),
    ("sa-east-1", "Z2P70J7HTTTPLU", "ZTK26PT1VY4CU"),
    ("us-east-1", "Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"),
    ("us-east-2", "Z3AADJGX6KTTL2", "ZLMOA37VPKANP"),
    ("us-gov-east-1", "Z166TLBEWOO7G0", "Z1ZSMQQ6Q24QQ8"),
    ("us-gov-west-1", "Z33AYJ8TM3BH4J", "ZMG1MZ2THAWF1"),
    ("us-west-1", "Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"),
    ("us-west-2", "Z1H1FL5HABSF5", "Z18D5FSROUN65G"),
];

/// A DNS name in the form cutover compares: lowercase, no trailing dot, Route53's `\ddd` octal
/// escapes (it returns `*` as `\052`) decoded.
pub fn normalize(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .map(|d| d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        match escaped {
            Some(b) => {
                out.push(b as char);
                i += 4;
            }
            None => {
                out.push(bytes[i] as char);
                i += 1;
            }
        }
    }
    out.to_ascii_lowercase()
}

/// Whether two record names are the same name to DNS.
pub fn same_name(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

/// A hosted zone id without the `/hostedzone/` prefix the API sometimes carries.
pub fn zone_id(zone: &str) -> &str {
    zone.trim_start_matches("/hostedzone/")
}

/// The hosted zone of an Elastic Load Balancing hostname, `None` for any other name.
pub fn elb_zone(hostname: &str) -> Option<&'static str> {
    let host = normalize(hostname);
    let host = host.strip_prefix("dualstack.").unwrap_or(&host);
    let labels: Vec<&str> = host.split('.').collect();
    let tail = |suffix: &[&str]| labels.len() > suffix.len() + 1 && labels.ends_with(suffix);
    let (region, nlb) =
        if tail(&["elb", "amazonaws", "com"]) || tail(&["elb", "amazonaws", "com", "cn"]) {
            // <name>.<region>.elb.amazonaws.com[.cn]: Application or Classic.
            let at = labels.iter().rposition(|l| *l == "elb")?;
            (labels[at - 1], false)
        } else if tail(&["amazonaws", "com"]) || tail(&["amazonaws", "com", "cn"]) {
            // <name>.elb.<region>.amazonaws.com[.cn]: Network.
            let at = labels.iter().rposition(|l| *l == "amazonaws")?;
            if at < 2 || labels[at - 2] != "elb" {
                return None;
            }
            (labels[at - 1], true)
        } else {
            return None;
        };
    ELB_ZONES
        .iter()
        .find(|(r, _, _)| *r == region)
        .map(|(_, alb, nlb_zone)| if nlb { *nlb_zone } else { *alb })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_case_trailing_dot_or_escapes() {
        assert!(same_name("API.Example.com.", "api.example.com"));
        assert_eq!(normalize("\\052.example.com."), "*.example.com");
        assert_eq!(
            normalize("a\\\\b"),
            "a\\\\b",
            "a backslash not followed by three octal digits stays"
        );
        assert_eq!(normalize("x\\05"), "x\\05");
        assert!(!same_name("api.example.com", "api.example.org"));
    }

    #[test]
    fn load_balancer_hostnames_map_to_their_published_zones() {
        assert_eq!(
            elb_zone("my-alb-1234567890.us-east-1.elb.amazonaws.com"),
            Some("Z35SXDOTRQ7X7K")
        );
        assert_eq!(
            elb_zone("dualstack.my-alb-1234567890.eu-west-1.elb.amazonaws.com."),
            Some("Z32O12XQLNTSW2")
        );
        assert_eq!(
            elb_zone("internal-api-99.us-west-2.elb.amazonaws.com"),
            Some("Z1H1FL5HABSF5")
        );
        assert_eq!(
            elb_zone("a1b2c3-0123456789abcdef.elb.us-east-1.amazonaws.com"),
            Some("Z26RNL4JYFTOTI")
        );
        assert_eq!(
            elb_zone("nlb-1.elb.eu-central-1.amazonaws.com"),
            Some("Z3F0SRJ5LGBH90")
        );
        assert_eq!(
            elb_zone("alb-1.cn-north-1.elb.amazonaws.com.cn"),
            Some("Z1GDH35T77C1KE")
        );
    }

    #[test]
    fn other_names_have_no_elb_zone() {
        for other in [
            "blue-lb.example.net",
            "d111111abcdef8.cloudfront.net",
            "elb.amazonaws.com",
            "x.mars-1.elb.amazonaws.com",
            "s3.us-east-1.amazonaws.com",
        ] {
            assert_eq!(elb_zone(other), None, "{other}");
        }
    }

    #[test]
    fn zone_ids_lose_their_prefix() {
        assert_eq!(zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(zone_id("Z123"), "Z123");
    }
}
