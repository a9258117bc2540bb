//! The per-cluster certificate authority and the API server's TLS configuration.
//!
//! Each cluster has its own CA (what DescribeCluster returns as `certificateAuthority.data`), kept in
//! the state directory so clients keep trusting a restarted cluster. The serving certificate (SANs
//! 127.0.0.1, localhost, kubernetes) is issued afresh at every start. rustls uses ring, the one
//! crypto provider in the workspace.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct ClusterCa {
    pub cert_pem: String,
    key: KeyPair,
    cluster: String,
}

/// The CA's identity; rebuilt identically on restore so certificates issued after a restart chain
/// to the persisted CA certificate.
fn ca_params(cluster: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("cloudsim {cluster} CA"));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    Ok(params)
}

impl ClusterCa {
    pub fn generate(cluster: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate()?;
        let cert = ca_params(cluster)?.self_signed(&key)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            key,
            cluster: cluster.to_string(),
        })
    }

    /// Loads `ca.crt` + `ca.key` from `dir`, or makes and saves a new CA there.
    pub fn load_or_create(dir: &Path, cluster: &str) -> anyhow::Result<Self> {
        let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        if crt.exists() && key.exists() {
            let cert_pem = std::fs::read_to_string(&crt)?;
            let key = KeyPair::from_pem(&std::fs::read_to_string(&key)?).map_err(|e| {
                anyhow::anyhow!("{} is not a usable private key: {e}", key.display())
            })?;
            return Ok(ClusterCa {
                cert_pem,
                key,
                cluster: cluster.to_string(),
            });
        }
        let ca = Self::generate(cluster)?;
        std::fs::create_dir_all(dir)?;
        super::persist::write_atomic(&key, ca.key.serialize_pem().as_bytes())?;
        super::persist::write_atomic(&crt, ca.cert_pem.as_bytes())?;
        Ok(ca)
    }

    /// A rustls server configuration with a fresh serving certificate issued by this CA.
    pub fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let issuer = Issuer::new(ca_params(&self.cluster)?, &self.key);
        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default.svc".to_string(),
        ])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let cert = params.signed_by(&server_key, &issuer)?;
        let ca_der = rustls_pemfile_der(&self.cert_pem)?;
        let chain = vec![cert.der().clone(), ca_der];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The DER bytes of a single-certificate PEM.
fn rustls_pemfile_der(pem: &str) -> anyhow::Result<CertificateDer<'static>> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Ok(CertificateDer::from(
        base64::engine::general_purpose::STANDARD.decode(body)?,
    ))
}
