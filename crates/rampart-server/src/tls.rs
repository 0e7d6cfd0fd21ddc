//! TLS for every outbound connection: webhooks, Prometheus queries, the model proxy and the CLI
//! all use the one rustls client config built here ([`client_config`]), once per process.
//!
//! The trusted roots are found as curl and OpenSSL find them: when `SSL_CERT_FILE` or
//! `SSL_CERT_DIR` is set, only the certificates there (so a private CA works, and nothing else
//! is trusted by accident); otherwise the platform's store; and when the platform has none (a
//! bare container without CA certificates), Mozilla's roots as compiled in. [`explain`] turns a
//! failed connection into one line that says what was wrong with the certificate.

use std::error::Error;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};

/// The trusted roots and where they came from.
pub struct Roots {
    pub store: RootCertStore,
    /// Where the roots were read, for the log: `SSL_CERT_FILE=/etc/ca.pem`, `the system store`.
    pub origin: String,
    /// Files that could not be read and certificates that could not be used.
    pub problems: Vec<String>,
}

/// Finds the roots to trust; `env` reads an environment variable (so tests need not set any).
pub fn find_roots(env: impl Fn(&str) -> Option<OsString>) -> Roots {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let file = set("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = set("SSL_CERT_DIR")
        .map(|d| std::env::split_paths(&d).collect())
        .unwrap_or_default();
    let mut problems = Vec::new();
    let (certs, origin) = if file.is_some() || !dirs.is_empty() {
        let mut certs = Vec::new();
        let mut origin = Vec::new();
        if let Some(f) = &file {
            let found = rustls_native_certs::load_certs_from_paths(Some(f), None);
            problems.extend(found.errors.iter().map(ToString::to_string));
            if found.certs.is_empty() && found.errors.is_empty() {
                problems.push(format!("{} holds no PEM certificate", f.display()));
            }
            certs.extend(found.certs);
            origin.push(format!("SSL_CERT_FILE={}", f.display()));
        }
        for d in &dirs {
            let found = rustls_native_certs::load_certs_from_paths(None, Some(d));
            problems.extend(found.errors.iter().map(ToString::to_string));
            certs.extend(found.certs);
            origin.push(format!("SSL_CERT_DIR={}", d.display()));
        }
        (certs, origin.join(", "))
    } else {
        // Neither variable is set here, so this reads the platform's store only.
        let found = rustls_native_certs::load_native_certs();
        problems.extend(found.errors.iter().map(ToString::to_string));
        (found.certs, "the system store".to_string())
    };
    let explicit = file.is_some() || !dirs.is_empty();
    let (store, origin) = trust(certs, origin, explicit, &mut problems);
    Roots {
        store,
        origin,
        problems,
    }
}

/// The store of `certs`; Mozilla's roots when the platform had none and no file was named (a
/// named file that holds nothing must fail closed, not widen trust).
fn trust(
    certs: Vec<CertificateDer<'static>>,
    origin: String,
    explicit: bool,
    problems: &mut Vec<String>,
) -> (RootCertStore, String) {
    let mut store = RootCertStore::empty();
    let (_, ignored) = store.add_parsable_certificates(certs);
    if ignored > 0 {
        problems.push(format!(
            "{ignored} certificate(s) in {origin} cannot be used as roots"
        ));
    }
    if store.is_empty() && !explicit {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return (
            store,
            "Mozilla's roots (compiled in; the system store has none)".to_string(),
        );
    }
    (store, origin)
}

/// A client config that trusts `roots`, on ring, TLS 1.2 and 1.3.
pub fn config_with(roots: RootCertStore) -> ClientConfig {
    // An explicit provider: the process-wide default would be ambiguous if another crate in the
    // build enabled a second one.
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The process's TLS client config, built on first use from the environment and logged once.
pub fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = find_roots(|name| std::env::var_os(name));
            for p in &roots.problems {
                tracing::warn!(problem = %p, "TLS roots");
            }
            if roots.store.is_empty() {
                tracing::error!(origin = %roots.origin, "no trusted TLS root: every https:// connection will fail");
            } else {
                tracing::info!(roots = roots.store.len(), origin = %roots.origin, "TLS roots loaded");
            }
            Arc::new(config_with(roots.store))
        })
        .clone()
}

/// A blocking HTTP client builder that speaks TLS with [`client_config`].
pub fn agent_builder() -> ureq::AgentBuilder {
    ureq::AgentBuilder::new().tls_config(client_config())
}

/// The model proxy's connector: `http://` and `https://` over HTTP/1, with [`client_config`].
pub(crate) fn https_connector(
) -> hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_nodelay(true);
    // The TLS layer sees https:// URLs only when the TCP layer lets them through.
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*client_config()).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// An error and its sources in one line, with what to do when a TLS certificate was refused.
pub fn explain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut tls = None;
    let mut next = Some(e);
    while let Some(err) = next {
        tls = tls.or_else(|| rustls_error(err));
        next = err.source();
        // Displays usually include their source already; add only what is new.
        if let Some(s) = next {
            let s = s.to_string();
            if !text.contains(&s) {
                text.push_str(": ");
                text.push_str(&s);
            }
        }
    }
    match tls.and_then(hint) {
        Some(h) => format!("{text} ({h})"),
        None => text,
    }
}

/// A rustls error behind `e`: itself, inside an io error (which carries it rather than names it
/// as its source), or further down the chain.
fn rustls_error<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(found) = e.downcast_ref::<rustls::Error>() {
        return Some(found);
    }
    let inner = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .map(|inner| inner as &(dyn Error + 'static));
    inner.and_then(rustls_error)
}

fn hint(e: &rustls::Error) -> Option<&'static str> {
    let rustls::Error::InvalidCertificate(c) = e else {
        return Some("the TLS handshake failed");
    };
    Some(match c {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            "TLS: the server's certificate is not signed by a trusted CA; add its CA to the system's roots or point SSL_CERT_FILE at a PEM file holding it"
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "TLS: the server's certificate is not issued for this host name"
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "TLS: the server's certificate has expired"
        }
        _ => "TLS: the server's certificate was refused",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn ssl_cert_file_replaces_the_system_store() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, format!("{}{}", ca_pem(), ca_pem())).unwrap();
        let roots = find_roots(|n| (n == "SSL_CERT_FILE").then(|| file.clone().into()));
        assert_eq!(roots.store.len(), 2);
        assert_eq!(roots.origin, format!("SSL_CERT_FILE={}", file.display()));
        assert!(roots.problems.is_empty(), "{:?}", roots.problems);
    }

    #[test]
    fn ssl_cert_dir_adds_every_file_in_each_directory() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("one.pem"), ca_pem()).unwrap();
        std::fs::write(b.path().join("two.pem"), ca_pem()).unwrap();
        let dirs = std::env::join_paths([a.path(), b.path()]).unwrap();
        let roots = find_roots(|n| (n == "SSL_CERT_DIR").then(|| dirs.clone()));
        assert_eq!(roots.store.len(), 2, "{:?}", roots.problems);
    }

    #[test]
    fn a_named_file_that_is_missing_or_empty_trusts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let roots = find_roots(|n| (n == "SSL_CERT_FILE").then(|| missing.clone().into()));
        assert!(roots.store.is_empty());
        assert_eq!(roots.problems.len(), 1, "{:?}", roots.problems);
        assert!(
            roots.problems[0].contains("missing.pem"),
            "{:?}",
            roots.problems
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let roots = find_roots(|n| (n == "SSL_CERT_FILE").then(|| empty.clone().into()));
        assert!(roots.store.is_empty());
        assert_eq!(
            roots.problems,
            [format!("{} holds no PEM certificate", empty.display())]
        );
    }

    #[test]
    fn an_empty_platform_store_falls_back_on_mozillas_roots() {
        let mut problems = Vec::new();
        let (store, origin) = trust(Vec::new(), "the system store".into(), false, &mut problems);
        assert_eq!(store.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(origin.starts_with("Mozilla's roots"), "{origin}");
        let (store, _) = trust(Vec::new(), "SSL_CERT_FILE=x".into(), true, &mut problems);
        assert!(store.is_empty());
    }

    #[test]
    fn refused_certificates_are_explained() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let text = explain(&io);
        assert_eq!(
            text,
            "invalid peer certificate: UnknownIssuer (TLS: the server's certificate is not signed by a trusted CA; add its CA to the system's roots or point SSL_CERT_FILE at a PEM file holding it)"
        );
        // Wrapped twice, as a connector may hand it on.
        let twice = std::io::Error::other(io);
        assert!(
            explain(&twice).ends_with("holding it)"),
            "{}",
            explain(&twice)
        );
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(explain(&plain), "refused");
    }
}
