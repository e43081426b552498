//! A synthetic PKI shaped like Intel's SGX PKI, for quotes no real platform here can make.
//!
//! Root CA → PCK Platform CA → PCK certificate (with the Intel SGX extension,
//! OID 1.2.840.113741.1.13.1: PPID, TCB components, PCESVN, CPUSVN, PCEID, FMSPC, SGX type),
//! and Root CA → TCB signing certificate, which signs TCB info and QE identity JSON. Both
//! CRLs are real CRLs signed by their issuers. Quotes (SGX v3 and v4) come from a QE whose
//! report the PCK key signs, built with the `sgx` crate's encoders.

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attestation::Collateral;
use dcap_qvl::QuoteCollateralV3;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;
use sgx::quote::{CERT_TYPE_PCK_CERT_CHAIN, INTEL_QE_VENDOR_ID};
use sgx::{
    qe_report_data, Attributes, CertificationData, QeReportCertificationData, QuoteHeader, QuoteV3,
    ReportBody, SgxQuoteV4,
};
use time::OffsetDateTime;

/// 2026-01-01T00:00:00Z: the synthetic collateral's verification time.
pub const SYNTH_AT_SECS: u64 = 1_767_225_600;
/// MRSIGNER of the synthetic QE (Intel's QE identity names the real one).
pub const QE_MRSIGNER: [u8; 32] = [0x8c; 32];
/// Serial number of the PCK certificate, so tests can revoke it.
pub const PCK_SERIAL: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x01];
const SGX_EXT: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01];

pub fn synth_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(SYNTH_AT_SECS)
}

/// What the PCK certificate says about the platform.
#[derive(Debug, Clone)]
pub struct Platform {
    pub cpu_svn: [u8; 16],
    pub pce_svn: u16,
    pub fmspc: [u8; 6],
    pub pce_id: [u8; 2],
    /// Whether the PCK CRL lists the PCK certificate.
    pub revoke_pck: bool,
    /// Whether the root CA CRL lists the PCK Platform CA.
    pub revoke_pck_ca: bool,
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            cpu_svn: [4, 4, 2, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0],
            pce_svn: 13,
            fmspc: [0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00],
            pce_id: [0, 0],
            revoke_pck: false,
            revoke_pck_ca: false,
        }
    }
}

pub struct IntelPki {
    pub platform: Platform,
    pub root_der: Vec<u8>,
    pub root_pem: String,
    pub pck_ca_pem: String,
    pub pck_pem: String,
    pub pck_der: Vec<u8>,
    pub tcb_signer_pem: String,
    pub root_crl: Vec<u8>,
    pub pck_crl: Vec<u8>,
    pck_key: EcdsaKeyPair,
    tcb_key: EcdsaKeyPair,
    rng: SystemRandom,
}

/// A TCB level for [`IntelPki::collateral`]: SGX components, PCESVN, status, advisories.
pub fn tcb_level(
    components: [u8; 16],
    pce_svn: u16,
    status: &str,
    advisories: &[&str],
) -> serde_json::Value {
    let comps: Vec<_> = components.iter().map(|svn| json!({ "svn": svn })).collect();
    json!({
        "tcb": { "sgxtcbcomponents": comps, "pcesvn": pce_svn },
        "tcbDate": "2025-01-01T00:00:00Z",
        "tcbStatus": status,
        "advisoryIDs": advisories,
    })
}

/// A QE identity TCB level.
pub fn qe_level(isvsvn: u16, status: &str, advisories: &[&str]) -> serde_json::Value {
    json!({
        "tcb": { "isvsvn": isvsvn },
        "tcbDate": "2025-01-01T00:00:00Z",
        "tcbStatus": status,
        "advisoryIDs": advisories,
    })
}

/// The default TCB levels: the platform's own SVNs are `SWHardeningNeeded` with one
/// advisory; higher ones are `UpToDate`; lower ones `OutOfDate`.
pub fn default_tcb_levels(platform: &Platform) -> Vec<serde_json::Value> {
    let mut higher = platform.cpu_svn;
    higher[0] += 1;
    let mut lower = platform.cpu_svn;
    lower[0] -= 1;
    vec![
        tcb_level(higher, platform.pce_svn, "UpToDate", &[]),
        tcb_level(
            platform.cpu_svn,
            platform.pce_svn,
            "SWHardeningNeeded",
            &["INTEL-SA-00615"],
        ),
        tcb_level(lower, platform.pce_svn, "OutOfDate", &["INTEL-SA-00828"]),
    ]
}

pub fn default_qe_levels() -> Vec<serde_json::Value> {
    vec![
        qe_level(8, "UpToDate", &[]),
        qe_level(6, "OutOfDate", &["INTEL-SA-00615"]),
    ]
}

impl IntelPki {
    pub fn new(platform: Platform) -> Self {
        let rng = SystemRandom::new();
        let not_before = OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap(); // 2025-01-01
        let not_after = OffsetDateTime::from_unix_timestamp(2_366_841_600).unwrap(); // 2045-01-01

        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut root = ca_params(
            "Test SGX Root CA (synthetic, not Intel)",
            not_before,
            not_after,
        );
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.serial_number = Some(SerialNumber::from(vec![0x01]));
        let root_cert = root.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(root, &root_key);

        let pck_ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut pck_ca = ca_params("Intel SGX PCK Platform CA", not_before, not_after);
        pck_ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        pck_ca.serial_number = Some(SerialNumber::from(vec![0x02]));
        let pck_ca_cert = pck_ca.signed_by(&pck_ca_key, &root_issuer).unwrap();
        let pck_ca_issuer = Issuer::new(pck_ca, &pck_ca_key);

        let pck_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut pck = leaf_params("Intel SGX PCK Certificate", not_before, not_after);
        pck.serial_number = Some(SerialNumber::from(PCK_SERIAL.to_vec()));
        pck.custom_extensions = vec![CustomExtension::from_oid_content(
            &[1, 2, 840, 113741, 1, 13, 1],
            sgx_extension(&platform),
        )];
        let pck_cert = pck.signed_by(&pck_key, &pck_ca_issuer).unwrap();

        let tcb_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut tcb = leaf_params("Intel SGX TCB Signing", not_before, not_after);
        tcb.serial_number = Some(SerialNumber::from(vec![0x03]));
        let tcb_cert = tcb.signed_by(&tcb_key, &root_issuer).unwrap();

        let crl = |revoked: Vec<Vec<u8>>, issuer: &Issuer<'_, &KeyPair>| {
            CertificateRevocationListParams {
                this_update: not_before,
                next_update: OffsetDateTime::from_unix_timestamp(2_051_222_400).unwrap(), // 2035
                crl_number: SerialNumber::from(vec![0x01]),
                issuing_distribution_point: None,
                revoked_certs: revoked
                    .into_iter()
                    .map(|serial| RevokedCertParams {
                        serial_number: SerialNumber::from(serial),
                        revocation_time: not_before,
                        reason_code: None,
                        invalidity_date: None,
                    })
                    .collect(),
                key_identifier_method: KeyIdMethod::Sha256,
            }
            .signed_by(issuer)
            .unwrap()
            .der()
            .to_vec()
        };
        let root_crl = crl(
            if platform.revoke_pck_ca {
                vec![vec![0x02]]
            } else {
                Vec::new()
            },
            &root_issuer,
        );
        let pck_crl = crl(
            if platform.revoke_pck {
                vec![PCK_SERIAL.to_vec()]
            } else {
                Vec::new()
            },
            &pck_ca_issuer,
        );

        let ecdsa = |key: &KeyPair| {
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng)
                .unwrap()
        };
        Self {
            root_der: root_cert.der().to_vec(),
            root_pem: root_cert.pem(),
            pck_ca_pem: pck_ca_cert.pem(),
            pck_pem: pck_cert.pem(),
            pck_der: pck_cert.der().to_vec(),
            tcb_signer_pem: tcb_cert.pem(),
            root_crl,
            pck_crl,
            pck_key: ecdsa(&pck_key),
            tcb_key: ecdsa(&tcb_key),
            rng,
            platform,
        }
    }

    /// Collateral for this platform with these TCB and QE levels, signed by the TCB signer.
    pub fn collateral_with(
        &self,
        tcb_levels: Vec<serde_json::Value>,
        qe_levels: Vec<serde_json::Value>,
    ) -> Collateral {
        let tcb_info = json!({
            "id": "SGX",
            "version": 3,
            "issueDate": "2025-12-01T00:00:00Z",
            "nextUpdate": "2026-02-01T00:00:00Z",
            "fmspc": hex::encode_upper(self.platform.fmspc),
            "pceId": hex::encode_upper(self.platform.pce_id),
            "tcbType": 0,
            "tcbEvaluationDataNumber": 17,
            "tcbLevels": tcb_levels,
        })
        .to_string();
        let qe_identity = json!({
            "id": "QE",
            "version": 2,
            "issueDate": "2025-12-01T00:00:00Z",
            "nextUpdate": "2026-02-01T00:00:00Z",
            "tcbEvaluationDataNumber": 17,
            "miscselect": "00000000",
            "miscselectMask": "FFFFFFFF",
            "attributes": "11000000000000000000000000000000",
            "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
            "mrsigner": hex::encode_upper(QE_MRSIGNER),
            "isvprodid": 1,
            "tcbLevels": qe_levels,
        })
        .to_string();
        let issuer_chain = format!("{}{}", self.tcb_signer_pem, self.root_pem);
        let inner = QuoteCollateralV3 {
            pck_crl_issuer_chain: format!("{}{}", self.pck_ca_pem, self.root_pem),
            root_ca_crl: self.root_crl.clone(),
            pck_crl: self.pck_crl.clone(),
            tcb_info_issuer_chain: issuer_chain.clone(),
            tcb_info_signature: self.sign_tcb(tcb_info.as_bytes()),
            tcb_info,
            qe_identity_issuer_chain: issuer_chain,
            qe_identity_signature: Vec::new(),
            qe_identity,
            pck_certificate_chain: None,
        };
        let inner = QuoteCollateralV3 {
            qe_identity_signature: self.sign_tcb(inner.qe_identity.as_bytes()),
            ..inner
        };
        Collateral::from_dcap_qvl(inner).unwrap()
    }

    pub fn collateral(&self) -> Collateral {
        self.collateral_with(default_tcb_levels(&self.platform), default_qe_levels())
    }

    /// Raw `r ‖ s` signature by the TCB signing key (how Intel signs TCB info / QE identity).
    pub fn sign_tcb(&self, message: &[u8]) -> Vec<u8> {
        self.tcb_key
            .sign(&self.rng, message)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    /// The QE's part of a quote: a QE report binding `attestation_key`, signed by the PCK key.
    pub fn qe_certification(
        &self,
        attestation_key: &[u8; 64],
        qe_isvsvn: u16,
    ) -> QeReportCertificationData {
        let auth = [0x5a_u8; 32].to_vec();
        let mut qe_report = ReportBody::parse(&[0u8; 384]).unwrap();
        qe_report.cpu_svn = self.platform.cpu_svn;
        qe_report.attributes = Attributes::new(Attributes::INIT | Attributes::PROVISION_KEY, 0xe7);
        qe_report.mr_enclave = [0x51; 32];
        qe_report.mr_signer = QE_MRSIGNER;
        qe_report.isv_prod_id = 1;
        qe_report.isv_svn = qe_isvsvn;
        qe_report.report_data = qe_report_data(attestation_key, &auth);
        let qe_report_signature = self
            .pck_key
            .sign(&self.rng, &qe_report.encode())
            .unwrap()
            .as_ref()
            .try_into()
            .unwrap();
        let chain = format!("{}{}{}\0", self.pck_pem, self.pck_ca_pem, self.root_pem);
        QeReportCertificationData {
            qe_report,
            qe_report_signature,
            qe_auth_data: auth,
            certification_data: CertificationData {
                cert_type: CERT_TYPE_PCK_CERT_CHAIN,
                data: chain.into_bytes(),
            },
        }
    }

    /// An SGX quote of version 4 over `body`, from a fresh attestation key.
    pub fn sgx_v4_quote(&self, body: &ReportBody) -> Vec<u8> {
        let (att, att_pub) = self.attestation_key();
        let mut quote = SgxQuoteV4 {
            header: QuoteHeader::sgx_v4(INTEL_QE_VENDOR_ID, [0x42; 20]),
            report_body: body.clone(),
            quote_signature: [0; 64],
            attestation_key: att_pub,
            certification_data: self
                .qe_certification(&att_pub, 8)
                .to_certification_data()
                .unwrap(),
        };
        quote.quote_signature = sign64(&att, &self.rng, &quote.signed_bytes());
        quote.encode().unwrap()
    }

    /// The same platform's SGX quote of version 3 over `body`.
    pub fn sgx_v3_quote(&self, body: &ReportBody) -> Vec<u8> {
        let (att, att_pub) = self.attestation_key();
        let mut quote = QuoteV3 {
            header: QuoteHeader::sgx_v3(8, self.platform.pce_svn, INTEL_QE_VENDOR_ID, [0x42; 20]),
            report_body: body.clone(),
            isv_report_signature: [0; 64],
            attestation_key: att_pub,
            qe: self.qe_certification(&att_pub, 8),
        };
        quote.isv_report_signature = sign64(&att, &self.rng, &quote.signed_bytes());
        quote.encode().unwrap()
    }

    fn attestation_key(&self) -> (EcdsaKeyPair, [u8; 64]) {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &self.rng)
                .unwrap();
        let public: [u8; 64] = key.public_key().as_ref()[1..].try_into().unwrap();
        (key, public)
    }
}

/// An enclave report body with recognisable fields.
pub fn enclave_body(debug: bool) -> ReportBody {
    let mut body = ReportBody::parse(&[0u8; 384]).unwrap();
    let mut flags = Attributes::INIT | Attributes::MODE64BIT;
    if debug {
        flags |= Attributes::DEBUG;
    }
    body.attributes = Attributes::new(flags, 0x03);
    body.mr_enclave = [0xe1; 32];
    body.mr_signer = [0x5e; 32];
    body.isv_prod_id = 7;
    body.isv_svn = 3;
    body.report_data[..12].copy_from_slice(b"v4 synthetic");
    body
}

fn sign64(key: &EcdsaKeyPair, rng: &SystemRandom, message: &[u8]) -> [u8; 64] {
    key.sign(rng, message).unwrap().as_ref().try_into().unwrap()
}

fn ca_params(cn: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(cn);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn leaf_params(
    cn: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(cn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "rune test PKI (synthetic)");
    dn
}

/// The Intel SGX extension (Intel "SGX PCK Certificate and CRL Profile" §1.3.5): a SEQUENCE of
/// (OID, value) pairs, TCB as a nested SEQUENCE of 16 components, PCESVN and CPUSVN.
fn sgx_extension(p: &Platform) -> Vec<u8> {
    let oid = |suffix: &[u8]| tlv(0x06, &[&SGX_EXT[..], suffix].concat());
    let pair = |suffix: &[u8], value: Vec<u8>| tlv(0x30, &[oid(suffix), value].concat());
    let mut tcb = Vec::new();
    for (i, svn) in (1u8..).zip(p.cpu_svn) {
        tcb.extend(pair(&[2, i], integer(u64::from(svn))));
    }
    tcb.extend(pair(&[2, 17], integer(u64::from(p.pce_svn))));
    tcb.extend(pair(&[2, 18], tlv(0x04, &p.cpu_svn)));
    let body = [
        pair(&[1], tlv(0x04, &[0xab; 16])),
        pair(&[2], tlv(0x30, &tcb)),
        pair(&[3], tlv(0x04, &p.pce_id)),
        pair(&[4], tlv(0x04, &p.fmspc)),
        pair(&[5], tlv(0x0a, &[0x00])),
    ]
    .concat();
    tlv(0x30, &body)
}

fn integer(value: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = value.to_be_bytes().to_vec();
    while bytes.len() > 1 && bytes[0] == 0 && bytes[1] < 0x80 {
        bytes.remove(0);
    }
    if bytes[0] >= 0x80 {
        bytes.insert(0, 0);
    }
    tlv(0x02, &bytes)
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = u16::try_from(content.len()).unwrap();
    let [high, low] = len.to_be_bytes();
    match len {
        0..0x80 => out.push(low),
        0x80..0x100 => out.extend([0x81, low]),
        _ => out.extend([0x82, high, low]),
    }
    out.extend_from_slice(content);
    out
}
