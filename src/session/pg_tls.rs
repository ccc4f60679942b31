//! TLS to PostgreSQL with rustls (no OpenSSL), set as libpq sets it from the URL: `sslmode`
//! (`disable`, `prefer` — the default —, `require`, `verify-ca`, `verify-full`) and
//! `sslrootcert` (a PEM file of the certificates to trust; else the system's roots). As in
//! libpq, `prefer` and `require` encrypt without checking whom they talk to (`require` with an
//! `sslrootcert` checks the chain, as `verify-ca`); `verify-ca` checks that a trusted
//! authority signed the server's certificate; `verify-full` also that it names the host.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

/// Where the system's trusted authorities are, by distribution (the first that exists);
/// `SSL_CERT_FILE` comes first.
const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A root certificate file larger than this is not one.
const MAX_ROOTS_FILE: u64 = 16 << 20;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other} is not known: write disable, prefer, require, verify-ca or \
                     verify-full"
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS settings of a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query (tokio-postgres knows
/// neither `verify-*` nor `sslrootcert`): the URL without them, and the settings.
pub fn split_url(url: &str) -> Result<(String, TlsSettings), String> {
    let mut settings = TlsSettings {
        mode: SslMode::Prefer,
        root_cert: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), settings));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value: String = form_urlencoded::parse(format!("v={value}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        match key {
            "sslmode" => settings.mode = SslMode::parse(&value)?,
            "sslrootcert" if !value.is_empty() => settings.root_cert = Some(value.into()),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, settings))
}

/// What tokio-postgres is told: TLS off, tried, or required (the checks are the connector's).
pub fn pg_mode(mode: SslMode) -> PgSslMode {
    match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    }
}

/// A TLS failure, for the store's error messages.
#[derive(Debug, thiserror::Error)]
#[error("TLS (sslmode={mode}): {message}")]
pub struct TlsError {
    mode: &'static str,
    message: String,
}

/// Makes the TLS connector of every connection of one database.
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<ClientConfig>,
    mode: SslMode,
}

impl MakeRustls {
    /// The connector for `settings`; the root certificates are read now (an unreadable or
    /// empty `sslrootcert` is an error naming it).
    pub fn new(settings: &TlsSettings) -> Result<MakeRustls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let check_chain = match settings.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            SslMode::Require => settings.root_cert.is_some(),
            SslMode::Disable | SslMode::Prefer => false,
        };
        let chain = if check_chain {
            let roots = match &settings.root_cert {
                Some(path) => {
                    read_roots(path).map_err(|e| format!("sslrootcert={}: {e}", path.display()))?
                }
                None => system_roots()?,
            };
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("TLS: {e}"))?;
            Some(webpki)
        } else {
            None
        };
        let verifier = Arc::new(Verifier {
            chain,
            names: settings.mode == SslMode::VerifyFull,
            algorithms: provider.signature_verification_algorithms,
        });
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustls {
            config: Arc::new(config),
            mode: settings.mode,
        })
    }
}

fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() || meta.len() > MAX_ROOTS_FILE {
        return Err("is not a PEM file of certificates".into());
    }
    let pem = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("is not a PEM file of certificates: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("holds a certificate that cannot be a root: {e}"))?;
    }
    if roots.is_empty() {
        return Err("holds no certificate (write the authority's PEM certificate there)".into());
    }
    Ok(roots)
}

/// The system's trusted authorities (`SSL_CERT_FILE`, else the distribution's bundle).
fn system_roots() -> Result<RootCertStore, String> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let path = from_env
        .into_iter()
        .chain(SYSTEM_ROOTS.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "no system root certificates ({}): name the authority with sslrootcert=FILE",
                SYSTEM_ROOTS.join(", ")
            )
        })?;
    read_roots(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Checks the server's certificate chain against the trusted roots (`chain`; `None` for
/// `prefer` and `require` without a root certificate: the connection is encrypted, the server's
/// identity is not checked, as libpq does) and, for `verify-full`, that it names the host. The
/// handshake's signatures are always checked.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    names: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, TlsError> {
        // Without a name to check (prefer, require), any valid one does for the handshake.
        let name = ServerName::try_from(domain.to_string()).or_else(|e| {
            if self.mode == SslMode::VerifyFull {
                Err(TlsError {
                    mode: self.mode.name(),
                    message: format!("\"{domain}\" is not a host name to check: {e}"),
                })
            } else {
                Ok(ServerName::try_from("localhost").expect("a valid name"))
            }
        })?;
        Ok(RustlsConnect {
            config: self.config.clone(),
            name,
            mode: self.mode,
        })
    }
}

/// The TLS connector of one connection.
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    mode: SslMode,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = TlsError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream, TlsError>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let host = self.name.to_str().into_owned();
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map(RustlsStream)
                .map_err(|e| {
                    use rustls::CertificateError as C;
                    let cause = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                    let hint = match cause {
                        Some(rustls::Error::InvalidCertificate(
                            C::NotValidForName | C::NotValidForNameContext { .. },
                        )) => format!(
                            " (verify-full checks that the certificate names {host}: connect \
                             with a name it holds, or use sslmode=verify-ca)"
                        ),
                        Some(rustls::Error::InvalidCertificate(C::UnknownIssuer)) => {
                            " (no trusted authority signed the server's certificate: name the \
                             authority's certificate with sslrootcert=FILE)"
                                .to_string()
                        }
                        _ => String::new(),
                    };
                    TlsError {
                        mode: self.mode.name(),
                        message: format!("{e}{hint}"),
                    }
                })
        })
    }
}

/// A TLS connection to PostgreSQL.
pub struct RustlsStream(tokio_rustls::client::TlsStream<Socket>);

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl tokio_postgres::tls::TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let (url, s) = split_url(
            "postgres://covtop@db:5432/coverage?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(url, "postgres://covtop@db:5432/coverage?application_name=x");
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/etc/ca.pem")));
        let (url, s) = split_url("postgres://covtop@db/coverage").unwrap();
        assert_eq!(url, "postgres://covtop@db/coverage");
        assert_eq!((s.mode, s.root_cert), (SslMode::Prefer, None));
        let (url, s) = split_url("postgres://db/c?sslmode=disable").unwrap();
        assert_eq!(
            (url.as_str(), s.mode),
            ("postgres://db/c", SslMode::Disable)
        );
        let e = split_url("postgres://db/c?sslmode=allow-all").unwrap_err();
        assert!(
            e.contains("sslmode=allow-all") && e.contains("verify-full"),
            "{e}"
        );
    }

    #[test]
    fn an_unusable_root_certificate_file_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for path in [empty, tmp.path().join("missing.pem")] {
            let e = MakeRustls::new(&TlsSettings {
                mode: SslMode::VerifyFull,
                root_cert: Some(path.clone()),
            })
            .err()
            .unwrap();
            assert!(
                e.starts_with(&format!("sslrootcert={}", path.display())),
                "{e}"
            );
        }
    }
}
