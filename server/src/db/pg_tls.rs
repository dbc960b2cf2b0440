//! TLS for PostgreSQL connections: the pool's (`postgres.rs`), the change listener's
//! (`listen.rs`) and the test support's.

use std::sync::Arc;

use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::StoreError;

/// TLS for connections whose URL asks for it (`sslmode=require`; the default, `prefer`, uses it
/// when the server offers it): rustls, trusting the Mozilla roots, or only the certificates of
/// the PEM file named by `PGSSLROOTCERT` (libpq's variable), as a managed database's own CA needs.
pub(crate) fn tls() -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match std::env::var_os("PGSSLROOTCERT") {
        Some(file) => {
            let certs = CertificateDer::pem_file_iter(&file).map_err(|e| {
                StoreError::Postgres(format!("PGSSLROOTCERT {}: {e}", file.to_string_lossy()))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    StoreError::Postgres(format!("PGSSLROOTCERT {}: {e}", file.to_string_lossy()))
                })?;
                roots.add(cert).map_err(|e| {
                    StoreError::Postgres(format!("PGSSLROOTCERT {}: {e}", file.to_string_lossy()))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Postgres(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
