//! The TLS configuration of the transport: rustls with *ring*, reduced to what a sync server
//! needs, because the mobile library's size is a goal (`docs/benchmarks.md`, "Library size").
//!
//! - Cipher suites: TLS 1.3's AES-128-GCM (every TLS 1.3 server must offer it) and
//!   ChaCha20-Poly1305 (fast on phones without AES instructions); for TLS 1.2 servers, ECDHE
//!   with ECDSA or RSA and the same two AEADs. No AES-256 or SHA-384 suites.
//! - Key exchange: X25519 and P-256 (what servers offer first; P-384 is not kept).
//! - Certificate signatures: ECDSA P-256/P-384 and RSA (PKCS#1 and PSS), what public CAs and
//!   Let's Encrypt issue; no Ed25519.
//! - No client certificates, so none of rustls's signing code.
//! - Roots: the Mozilla set (`webpki-roots`), the same on every platform.

use std::sync::Arc;

use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::{CryptoProvider, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use webpki::ring as algs;

use crate::error::{Error, Result};

/// Certificate signature algorithms, and which TLS signature schemes map to them.
static SIGNATURES: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        algs::ECDSA_P256_SHA256,
        algs::ECDSA_P256_SHA384,
        algs::ECDSA_P384_SHA256,
        algs::ECDSA_P384_SHA384,
        algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        algs::RSA_PKCS1_2048_8192_SHA256,
        algs::RSA_PKCS1_2048_8192_SHA384,
        algs::RSA_PKCS1_2048_8192_SHA512,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[algs::ECDSA_P384_SHA384, algs::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[algs::ECDSA_P256_SHA256, algs::ECDSA_P384_SHA256],
        ),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[algs::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[algs::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[algs::RSA_PKCS1_2048_8192_SHA256],
        ),
    ],
};

/// The OS's random numbers, through *ring* (rustls's own provider type for this is private).
#[derive(Debug)]
struct Random;

impl SecureRandom for Random {
    fn fill(&self, buf: &mut [u8]) -> std::result::Result<(), rustls::crypto::GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| rustls::crypto::GetRandomFailed)
    }
}

/// Refuses every private key: the device never authenticates with a client certificate, and
/// loading none keeps rustls's signing code out of the library.
#[derive(Debug)]
struct NoKeys;

impl KeyProvider for NoKeys {
    fn load_private_key(
        &self,
        _key: PrivateKeyDer<'static>,
    ) -> std::result::Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not supported".into(),
        ))
    }
}

/// The crypto provider described in the module's documentation.
fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1],
        signature_verification_algorithms: SIGNATURES,
        secure_random: &Random,
        key_provider: &NoKeys,
    }
}

/// The rustls client configuration the transport's HTTP client uses.
pub(crate) fn client_config() -> Result<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(
        rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| Error::InvalidConfig(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_offers_both_tls_versions_and_only_the_kept_suites() {
        let config = client_config().expect("config");
        let suites = &config.crypto_provider().cipher_suites;
        assert_eq!(suites.len(), 6);
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            assert!(suites.iter().any(|s| s.version() == version), "{version:?}");
        }
        assert_eq!(config.crypto_provider().kx_groups.len(), 2);
    }

    /// A real handshake with a public server, with this module's provider and, as extra roots,
    /// the system's bundle (this machine reaches the internet through a TLS-inspecting proxy whose
    /// root only the system trusts). Needs the internet, so only on demand (`cargo test -p
    /// syncline-core tls -- --ignored`). Any HTTP answer means the handshake and the
    /// certificate check passed.
    #[test]
    #[ignore = "needs the internet"]
    fn a_public_https_server_is_reached() {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let bundle = "/etc/ssl/certs/ca-certificates.crt";
        if let Ok(certs) = CertificateDer::pem_file_iter(bundle) {
            roots.add_parsable_certificates(certs.flatten());
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .build()
            .expect("client");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for url in [
            "https://index.crates.io/config.json",
            "https://static.rust-lang.org/",
        ] {
            let status = rt
                .block_on(http.get(url).send())
                .unwrap_or_else(|e| panic!("{url}: {e:?}"))
                .status();
            eprintln!("{url}: {status}");
        }
    }
}
