//! RA-TLS handshake against a plain rustls handshake with the same key type (ECDSA P-256,
//! TLS 1.3, ring), both mutual, both in memory. The difference is evidence verification: two
//! sim quote verifications (chain, QE report, quote signature) and the binding checks.
//! Certificate generation (one quote each) is measured separately.

use std::hint::black_box;
use std::sync::Arc;
use std::time::SystemTime;

use attestation::attester::SimAttester;
use attestation::ratls::{self, RaTlsIdentity, RaTlsPolicy, RaTlsVerifier};
use attestation::sim::{SimPki, SimQuoter, SimVerifier};
use criterion::{criterion_group, criterion_main, Criterion};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

fn attester(pki: &SimPki) -> SimAttester {
    let report = |rd: &[u8; 64]| {
        let mut body = [0u8; 384];
        body[48] = 0x05;
        body[64..96].copy_from_slice(&[0x11; 32]);
        body[320..384].copy_from_slice(rd);
        Ok(body)
    };
    SimAttester::with_quoter(report, SimQuoter::new(pki).expect("quoter"))
}

/// Drive a client and a server connection in memory until both finish the handshake.
fn handshake(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) {
    let name = ServerName::try_from("ratls.invalid").expect("name");
    let mut c = ClientConnection::new(client.clone(), name).expect("client");
    let mut s = ServerConnection::new(server.clone()).expect("server");
    let mut buf = Vec::new();
    while c.is_handshaking() || s.is_handshaking() {
        buf.clear();
        while c.wants_write() {
            c.write_tls(&mut buf).expect("write");
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("read");
        }
        s.process_new_packets().expect("server handshake");
        buf.clear();
        while s.wants_write() {
            s.write_tls(&mut buf).expect("write");
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            c.read_tls(&mut rd).expect("read");
        }
        c.process_new_packets().expect("client handshake");
    }
}

fn plain_configs() -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::new(ca, &ca_key);
    let leaf = |name: &str| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("leaf");
        (
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    };
    let mut roots = RootCertStore::empty();
    roots.add(ca_cert.der().clone()).expect("root");
    let roots = Arc::new(roots);
    let (server_chain, server_key) = leaf("ratls.invalid");
    let (client_chain, client_key) = leaf("client");
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .expect("client verifier");
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(server_chain, server_key)
        .expect("server config");
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(client_chain, client_key)
        .expect("client config");
    client.resumption = Resumption::disabled();
    (Arc::new(client), Arc::new(server))
}

fn handshakes(c: &mut Criterion) {
    let now = SystemTime::now();
    let pki = SimPki::generate("bench", now).expect("pki");
    let attester = attester(&pki);
    let policy = || {
        RaTlsVerifier::new(
            RaTlsPolicy::default().allow_sim(SimVerifier::new(pki.root_cert_pem()).expect("root")),
        )
    };
    let server_id = RaTlsIdentity::generate(&attester, now).expect("server identity");
    let client_id = RaTlsIdentity::generate(&attester, now).expect("client identity");
    let ratls_server =
        Arc::new(ratls::server_config(&server_id, Some(policy())).expect("server config"));
    let mut ratls_client = ratls::client_config(policy(), Some(&client_id)).expect("client config");
    // Full handshakes only: a resumed session would skip certificate verification.
    ratls_client.resumption = Resumption::disabled();
    let ratls_client = Arc::new(ratls_client);
    let (plain_client, plain_server) = plain_configs();

    c.bench_function("tls_handshake_plain_mutual", |b| {
        b.iter(|| handshake(black_box(&plain_client), black_box(&plain_server)))
    });
    c.bench_function("tls_handshake_ratls_mutual_sim", |b| {
        b.iter(|| handshake(black_box(&ratls_client), black_box(&ratls_server)))
    });
    c.bench_function("ratls_cert_generate_sim", |b| {
        b.iter(|| RaTlsIdentity::generate(black_box(&attester), now).expect("identity"))
    });
    let verifier = policy();
    c.bench_function("ratls_cert_verify_sim", |b| {
        b.iter(|| {
            verifier
                .verify_cert(black_box(server_id.cert_der()), now)
                .expect("verifies")
        })
    });
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
