//! Outgoing TLS: rustls with the `ring` provider (the one NATS already
//! builds; reqwest is built with `rustls-no-provider`, so it has none of its
//! own). Every HTTP client of the crate and its tests comes from here —
//! `crate::tls::client()` would panic for want of a provider.

/// Installs rustls' `ring` provider as the process default, once.
pub fn install_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Err: another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest client builder with the provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_provider();
    reqwest::Client::builder()
}

/// A default reqwest client with the provider installed.
pub fn client() -> reqwest::Client {
    client_builder()
        .build()
        .unwrap_or_else(|e| panic!("building an HTTP client: {e}"))
}
