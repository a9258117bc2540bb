//! Who may read the dashboard. Bound to loopback it needs no token, but answers only requests
//! that name a loopback host (a page elsewhere cannot rebind a DNS name to 127.0.0.1 and read
//! it). Bound anywhere else it refuses to start without a token, and then every request must
//! carry `Authorization: Bearer <token>`, compared in constant time. The token is never logged
//! or shown: `Debug` prints it redacted.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::DashboardError;

/// The shortest token accepted: anything shorter is guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// A bearer token, kept as its sha256 so comparisons take the same time whatever the input's
/// length or how much of it matches.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(redacted)")
    }
}

impl Token {
    /// A token from its value; `what` names where it came from in the error (the variable).
    pub fn new(value: &str, what: &str) -> Result<Token, DashboardError> {
        let value = value.trim();
        if value.len() < MIN_TOKEN_LEN {
            return Err(DashboardError::Usage(format!(
                "{what} holds a token of {} characters; use at least {MIN_TOKEN_LEN} random ones (e.g. `openssl rand -hex 32`)",
                value.len()
            )));
        }
        Ok(Token(Sha256::digest(value.as_bytes()).into()))
    }

    /// Whether `presented` is the token.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(self.0.ct_eq(&digest))
    }
}

/// The access rule of one dashboard.
#[derive(Debug, Clone)]
pub enum Access {
    /// Loopback without a token: requests must name a loopback host.
    LoopbackOnly,
    /// Every request must carry the bearer token.
    Bearer(Token),
}

impl Access {
    /// The rule for listening on `listen` with `token`: off loopback a token is required.
    pub fn for_listen(listen: SocketAddr, token: Option<Token>) -> Result<Access, DashboardError> {
        match token {
            Some(token) => Ok(Access::Bearer(token)),
            None if listen.ip().is_loopback() => Ok(Access::LoopbackOnly),
            None => Err(DashboardError::Usage(format!(
                "refusing to listen on {listen} without a token: anyone who can reach it could read every run; \
                 pass --token-from-env VAR (clients then send `Authorization: Bearer <token>`) or listen on 127.0.0.1"
            ))),
        }
    }

    /// Whether a request with these `Host` and `Authorization` headers may be answered.
    pub fn allows(&self, host: Option<&str>, authorization: Option<&str>) -> bool {
        match self {
            Access::LoopbackOnly => host.is_some_and(is_loopback_host),
            // The scheme is case-insensitive (RFC 9110); the token is not.
            Access::Bearer(token) => authorization
                .and_then(|a| a.trim().split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .is_some_and(|(_, presented)| token.matches(presented.trim())),
        }
    }
}

/// `127.0.0.1:8080`, `localhost`, `[::1]:8080`: a Host header that names this machine.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token::new("0123456789abcdef0123", "T").unwrap()
    }

    #[test]
    fn off_loopback_a_token_is_required_and_short_tokens_are_refused() {
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(Access::for_listen(public, None).is_err());
        assert!(matches!(Access::for_listen(local, None), Ok(Access::LoopbackOnly)));
        assert!(matches!(Access::for_listen(public, Some(token())), Ok(Access::Bearer(_))));
        assert!(Token::new("short", "T").is_err());
        assert_eq!(format!("{:?}", token()), "Token(redacted)");
    }

    #[test]
    fn only_the_exact_bearer_token_is_let_in() {
        let access = Access::Bearer(token());
        assert!(access.allows(None, Some("Bearer 0123456789abcdef0123")));
        assert!(access.allows(None, Some("bearer 0123456789abcdef0123")), "the scheme's case does not matter");
        for wrong in ["Bearer 0123456789abcdef012", "Bearer 0123456789abcdef01234", "Basic 0123456789abcdef0123", "0123456789abcdef0123", ""] {
            assert!(!access.allows(Some("127.0.0.1"), Some(wrong)), "{wrong:?}");
        }
        assert!(!access.allows(Some("127.0.0.1"), None));
    }

    #[test]
    fn without_a_token_only_loopback_host_names_are_answered() {
        let access = Access::LoopbackOnly;
        for ok in ["127.0.0.1:8080", "localhost:1", "LOCALHOST", "[::1]:8080", "127.0.0.2"] {
            assert!(access.allows(Some(ok), None), "{ok}");
        }
        for rebound in ["evil.example:8080", "10.0.0.1:8080", "[2001:db8::1]:80", ""] {
            assert!(!access.allows(Some(rebound), None), "{rebound}");
        }
        assert!(!access.allows(None, None));
    }
}
