//! verdictd: attestation service and key broker speaking Confidential Containers' KBS
//! protocol (RCAR 0.4.0), so CoCo clients (kbs-client, attestation-agent, trustee-attester)
//! work against it unchanged.
//!
//! It owns: the protocol logic ([`service`]: sessions, evidence verification through the
//! `attestation` crate, Rego policies, EAR tokens, JWE resources), the embedded store
//! ([`store`]), configuration ([`config`]), metrics, TLS material, and the axum surface
//! ([`http`], the only module that knows about HTTP). It must not touch TEE devices or
//! container state: it verifies evidence, it never produces it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod service;
pub mod session;
pub mod store;
pub mod tls;
pub mod token;
pub mod verifier;

use std::fs;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use attestation::dcap::CollateralSource;
use attestation::sim::SimVerifier;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

pub use config::Config;

/// How often expired sessions are dropped.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Everything built from a [`Config`], before binding the listener.
#[derive(Debug)]
pub struct App {
    /// The router.
    pub router: axum::Router,
    /// The TLS server config, unless `--insecure-http`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The key broker (for the session sweeper).
    pub kbs: Arc<service::Kbs>,
    /// The TLS certificate (PEM) clients should trust, unless `--insecure-http`.
    pub tls_cert_pem: Option<Vec<u8>>,
}

/// Build the service: data directory, admin token, token key, store, verifiers, TLS.
pub fn build(config: &Config) -> anyhow::Result<App> {
    fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    fs::set_permissions(&config.data_dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", config.data_dir.display()))?;
    let admin_token = admin_token(&config.admin_token_file)?;
    let key_path = config.data_dir.join("token-key.pk8");
    let key = match fs::read(&key_path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Zeroizing::new(token::generate_key()?);
            write_private(&key_path, &key)?;
            key
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", key_path.display())),
    };
    let signer = token::TokenSigner::new(&key, config.token_ttl)
        .with_context(|| format!("loading {}", key_path.display()))?;
    let store_path = config.data_dir.join("verdictd.redb");
    let store = store::Store::open(&store_path)
        .with_context(|| format!("opening {}", store_path.display()))?;
    let sim = match &config.sim_root_ca {
        Some(path) => {
            let pem =
                fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let verifier = SimVerifier::new(&pem)
                .with_context(|| format!("loading the sim root ca {}", path.display()))?;
            tracing::warn!(tee = "sim", root = %path.display(), "accepting sim quotes (no hardware protection) chained to this root");
            Some(verifier)
        }
        None => None,
    };
    let collateral = config.collateral.as_ref().map(|path| {
        if path.is_dir() {
            CollateralSource::Dir(path.clone())
        } else {
            CollateralSource::File(path.clone())
        }
    });
    let kbs = Arc::new(
        service::Kbs::new(
            store,
            verifier::Verifiers { sim, collateral },
            signer,
            &service::ServiceConfig {
                session_ttl: config.session_ttl,
                token_ttl: config.token_ttl,
            },
        )
        .map_err(|e| anyhow::anyhow!(error::chain(&e)))?,
    );
    let (tls, tls_cert_pem) = if config.insecure_http {
        (None, None)
    } else {
        let (server, pem) = tls::server_config(config)?;
        (Some(server), Some(pem))
    };
    let state = http::AppState {
        kbs: kbs.clone(),
        admin_token: Arc::new(admin_token),
        max_body: config.max_body,
        session_ttl: config.session_ttl,
        tls: tls.is_some(),
    };
    Ok(App {
        router: http::router(state),
        tls,
        kbs,
        tls_cert_pem,
    })
}

/// Serve `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let kbs = app.kbs.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tick.tick().await;
            kbs.sweep_sessions();
        }
    });
    let result = match app.tls {
        None => axum::serve(listener, app.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving http"),
        Some(tls) => tls::serve(listener, app.router, tls, shutdown).await,
    };
    sweeper.abort();
    result
}

/// A server running on its own runtime thread (tests, benchmarks); stops on drop.
#[derive(Debug)]
pub struct ServerHandle {
    /// The bound address.
    pub addr: SocketAddr,
    /// The admin token.
    pub admin_token: String,
    /// The TLS certificate to trust (PEM), unless plain HTTP.
    pub tls_cert_pem: Option<Vec<u8>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// `http://addr` or `https://localhost:port`.
    pub fn url(&self) -> String {
        match self.tls_cert_pem {
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Build and start a server on a background runtime (`config.listen` may use port 0).
pub fn spawn(config: &Config) -> anyhow::Result<ServerHandle> {
    let app = build(config)?;
    let admin_token = fs::read_to_string(&config.admin_token_file)
        .with_context(|| format!("reading {}", config.admin_token_file.display()))?
        .trim()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let std_listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tls_cert_pem = app.tls_cert_pem.clone();
    let thread = std::thread::Builder::new()
        .name("verdictd".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "listener");
                        return;
                    }
                };
                let shutdown = async move {
                    let _ = rx.await;
                };
                if let Err(e) = serve(listener, app, shutdown).await {
                    tracing::error!(error = %format!("{e:#}"), "server stopped");
                }
            });
        })
        .context("spawning the server thread")?;
    Ok(ServerHandle {
        addr,
        admin_token,
        tls_cert_pem,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

/// Read the admin token file, or create it (0600) with a fresh random token.
fn admin_token(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let token = Zeroizing::new(text.trim().to_owned());
            if token.len() < 16 {
                bail!(
                    "admin token in {} is shorter than 16 characters: use a long random token",
                    path.display()
                );
            }
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = Zeroizing::new([0u8; 32]);
            SystemRandom::new()
                .fill(bytes.as_mut())
                .map_err(|_| anyhow::anyhow!("random generator failed"))?;
            let token: Zeroizing<String> =
                Zeroizing::new(bytes.iter().map(|b| format!("{b:02x}")).collect());
            write_private(path, format!("{}\n", token.as_str()).as_bytes())?;
            tracing::info!(path = %path.display(), "generated a new admin token");
            Ok(token)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Create a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
