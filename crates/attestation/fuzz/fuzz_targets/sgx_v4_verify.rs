#![no_main]
//! Full DCAP verification of SGX v4 quotes (our own path) against the committed synthetic
//! fixture's collateral and root. Whatever verifies must attest to exactly what the fixture
//! quote attests (header, report body, attestation key, QE report): mutations never forge.

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

static QUOTE: &[u8] = include_bytes!("../../tests/data/sgx_v4/quote");
static COLLATERAL: &[u8] = include_bytes!("../../tests/data/sgx_v4/collateral.json");
static ROOT_PEM: &[u8] = include_bytes!("../../tests/data/sgx_v4/root_ca.pem");

struct Fixture {
    collateral: attestation::Collateral,
    root_der: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        collateral: attestation::Collateral::from_json(COLLATERAL).expect("fixture collateral"),
        root_der: attestation::quote::parse_pem_chain(ROOT_PEM)
            .expect("fixture root")
            .remove(0),
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let at = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    if attestation::sgx_qvl::verify(data, f.collateral.as_dcap_qvl(), at, &f.root_der).is_ok() {
        let got = attestation::quote::Quote::parse(data).expect("verified quotes parse");
        let want = attestation::quote::Quote::parse(QUOTE).expect("fixture parses");
        assert_eq!(got.signed, want.signed);
        assert_eq!(got.signature.attestation_key, want.signature.attestation_key);
        assert_eq!(got.signature.qe_report, want.signature.qe_report);
    }
});
