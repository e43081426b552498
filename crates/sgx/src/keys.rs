//! EGETKEY-style key derivation and REPORT MACs for a software TEE.
//!
//! Real SGX derives keys inside the CPU from fused secrets. The sim TEE has a per-host
//! [`PlatformSecret`] instead, and this module turns it into keys with the same inputs and the
//! same refusal rules as EGETKEY (SDM Vol. 3D §38.6, "EGETKEY"):
//!
//! - the key name and policy choose which identity the key is bound to (MRENCLAVE and/or
//!   MRSIGNER, with or without ISVPRODID);
//! - an enclave may ask for keys of its own or an older ISVSVN/CONFIGSVN, never a newer one;
//! - INIT and DEBUG always enter the derivation, so a debug enclave never shares a key with a
//!   production one.
//!
//! The derivation is HMAC-SHA-256 keyed with the platform secret over a fixed-layout,
//! domain-separated encoding of those inputs, truncated to 128 bits. REPORT MACs are
//! AES-128-CMAC over the 384-byte REPORT BODY, as on hardware.

use std::fmt;

use aes::Aes128;
use cmac::{Cmac, Mac as _};
use hmac::Hmac;
use sha2::Sha256;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::attributes::Attributes;
use crate::keyrequest::{key_name, key_policy, KeyRequest};
use crate::report::{Report, ReportBody, TargetInfo};

/// Domain label of the derivation; changing it changes every sim key.
const KDF_LABEL: &[u8; 24] = b"rune-sim egetkey v1\0\0\0\0\0";

/// Why a key cannot be derived or a REPORT does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// KEYREQUEST.KEYNAME is not one of the five SGX key names.
    #[error("keyrequest key_name {0} is not a known key name (0..=4)")]
    UnknownKeyName(u16),
    /// The key needs an attribute the enclave does not have.
    #[error("keyrequest key_name {key_name} requires enclave attribute {attribute}")]
    MissingAttribute {
        /// The requested key name.
        key_name: u16,
        /// Name of the missing attribute.
        attribute: &'static str,
    },
    /// KEYREQUEST.KEYPOLICY has bits this derivation does not support.
    #[error("keyrequest key_policy {policy:#06x} has unsupported bits {unsupported:#06x}")]
    UnsupportedPolicy {
        /// The requested policy.
        policy: u16,
        /// The bits that are not supported.
        unsupported: u16,
    },
    /// KEYREQUEST.ISVSVN is newer than the enclave's ISVSVN.
    #[error("keyrequest isv_svn {requested} is above the enclave's isv_svn {actual}")]
    IsvSvnTooHigh {
        /// The requested SVN.
        requested: u16,
        /// The enclave's SVN.
        actual: u16,
    },
    /// KEYREQUEST.CONFIGSVN is newer than the enclave's CONFIGSVN.
    #[error("keyrequest config_svn {requested} is above the enclave's config_svn {actual}")]
    ConfigSvnTooHigh {
        /// The requested SVN.
        requested: u16,
        /// The enclave's SVN.
        actual: u16,
    },
    /// Reserved KEYREQUEST bytes are not zero (EGETKEY faults on them).
    #[error("keyrequest reserved bytes {field} are not zero")]
    ReservedNotZero {
        /// Name of the reserved field.
        field: &'static str,
    },
    /// The REPORT's MAC is not valid for the verifying enclave.
    #[error("report mac does not verify for target mrenclave {target}")]
    BadReportMac {
        /// MRENCLAVE (hex) of the enclave that tried to verify it.
        target: String,
    },
}

/// The per-host secret from which a sim platform derives every key (32 bytes).
///
/// Zeroized on drop; `Debug` prints a redaction.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PlatformSecret([u8; 32]);

impl PlatformSecret {
    /// Wraps secret bytes (e.g. read from the root-only platform directory).
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Draws a fresh secret from a cryptographic RNG.
    pub fn generate<R: rand_core::CryptoRngCore>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The secret bytes, for persisting them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PlatformSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformSecret(<redacted>)")
    }
}

/// A 128-bit derived key. Zeroized on drop; `Debug` prints a redaction.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DerivedKey([u8; 16]);

impl DerivedKey {
    /// The key bytes.
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKey(<redacted>)")
    }
}

/// The identity of the enclave asking for a key: what EGETKEY reads from its SECS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnclaveIdentity {
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// ISV product id.
    pub isv_prod_id: u16,
    /// ISV security version.
    pub isv_svn: u16,
    /// CONFIGSVN.
    pub config_svn: u16,
    /// Attributes.
    pub attributes: Attributes,
    /// MISCSELECT.
    pub misc_select: u32,
}

impl EnclaveIdentity {
    /// The identity fields of a REPORT BODY.
    pub fn from_report_body(body: &ReportBody) -> Self {
        Self {
            mr_enclave: body.mr_enclave,
            mr_signer: body.mr_signer,
            isv_prod_id: body.isv_prod_id,
            isv_svn: body.isv_svn,
            config_svn: body.config_svn,
            attributes: body.attributes,
            misc_select: body.misc_select,
        }
    }

    /// A REPORT BODY for this enclave carrying `report_data` (other fields zero), as the sim
    /// TEE's EREPORT fills it.
    pub fn report_body(&self, report_data: [u8; 64]) -> ReportBody {
        ReportBody {
            misc_select: self.misc_select,
            attributes: self.attributes,
            mr_enclave: self.mr_enclave,
            mr_signer: self.mr_signer,
            isv_prod_id: self.isv_prod_id,
            isv_svn: self.isv_svn,
            config_svn: self.config_svn,
            report_data,
            ..ReportBody::default()
        }
    }

    /// The TARGETINFO that addresses a REPORT to this enclave.
    pub fn target_info(&self) -> TargetInfo {
        TargetInfo {
            mr_enclave: self.mr_enclave,
            attributes: self.attributes,
            config_svn: self.config_svn,
            misc_select: self.misc_select,
            ..TargetInfo::default()
        }
    }
}

/// Derives the key `request` names for `enclave`, refusing what EGETKEY refuses.
///
/// For [`key_name::REPORT`] the policy and SVN fields are ignored and the result is the key
/// that [`create_report`] uses for reports targeted at `enclave` with `request.key_id`.
pub fn egetkey(
    secret: &PlatformSecret,
    request: &KeyRequest,
    enclave: &EnclaveIdentity,
) -> Result<DerivedKey, KeyError> {
    if request.reserved1.iter().any(|&b| b != 0) {
        return Err(KeyError::ReservedNotZero { field: "reserved1" });
    }
    if request.reserved2.iter().any(|&b| b != 0) {
        return Err(KeyError::ReservedNotZero { field: "reserved2" });
    }
    let name = request.key_name;
    let need = |flag: u64, attribute: &'static str| {
        if enclave.attributes.flags & flag == 0 {
            Err(KeyError::MissingAttribute {
                key_name: name,
                attribute,
            })
        } else {
            Ok(())
        }
    };
    match name {
        key_name::REPORT => {
            return Ok(report_key(
                secret,
                &enclave.mr_enclave,
                &enclave.attributes,
                enclave.misc_select,
                &request.key_id,
            ))
        }
        key_name::SEAL => {}
        key_name::PROVISION | key_name::PROVISION_SEAL => {
            need(Attributes::PROVISION_KEY, "provision_key")?
        }
        key_name::EINITTOKEN => need(Attributes::EINITTOKEN_KEY, "einittoken_key")?,
        other => return Err(KeyError::UnknownKeyName(other)),
    }

    let supported = key_policy::MRENCLAVE | key_policy::MRSIGNER | key_policy::NOISVPRODID;
    if request.key_policy & !supported != 0 {
        return Err(KeyError::UnsupportedPolicy {
            policy: request.key_policy,
            unsupported: request.key_policy & !supported,
        });
    }
    if request.isv_svn > enclave.isv_svn {
        return Err(KeyError::IsvSvnTooHigh {
            requested: request.isv_svn,
            actual: enclave.isv_svn,
        });
    }
    if request.config_svn > enclave.config_svn {
        return Err(KeyError::ConfigSvnTooHigh {
            requested: request.config_svn,
            actual: enclave.config_svn,
        });
    }

    // Provisioning keys are bound to the signer only, as on hardware.
    let policy = request.key_policy;
    let by_enclave = policy & key_policy::MRENCLAVE != 0 && name != key_name::PROVISION;
    let by_signer = policy & key_policy::MRSIGNER != 0 || name == key_name::PROVISION;
    // SDM EGETKEY: INIT and DEBUG are always part of the attribute mask.
    let mask = Attributes::new(
        request.attribute_mask.flags | Attributes::INIT | Attributes::DEBUG,
        request.attribute_mask.xfrm,
    );

    let mut msg = Vec::with_capacity(256);
    msg.extend_from_slice(KDF_LABEL);
    msg.extend_from_slice(&name.to_le_bytes());
    msg.extend_from_slice(&policy.to_le_bytes());
    msg.extend_from_slice(if by_enclave {
        &enclave.mr_enclave
    } else {
        &[0; 32]
    });
    msg.extend_from_slice(if by_signer {
        &enclave.mr_signer
    } else {
        &[0; 32]
    });
    let prod_id = if policy & key_policy::NOISVPRODID != 0 {
        0
    } else {
        enclave.isv_prod_id
    };
    msg.extend_from_slice(&prod_id.to_le_bytes());
    msg.extend_from_slice(&request.isv_svn.to_le_bytes());
    msg.extend_from_slice(&request.config_svn.to_le_bytes());
    msg.extend_from_slice(&request.cpu_svn);
    msg.extend_from_slice(&enclave.attributes.masked(&mask).encode());
    msg.extend_from_slice(&(enclave.misc_select & request.misc_mask).to_le_bytes());
    msg.extend_from_slice(&request.key_id);
    Ok(kdf(secret, &msg))
}

/// The report key of the enclave described by `mr_enclave`, `attributes` and `misc_select`,
/// diversified by `key_id` (the REPORT's KEYID).
pub fn report_key(
    secret: &PlatformSecret,
    mr_enclave: &[u8; 32],
    attributes: &Attributes,
    misc_select: u32,
    key_id: &[u8; 32],
) -> DerivedKey {
    let mut msg = Vec::with_capacity(128);
    msg.extend_from_slice(KDF_LABEL);
    msg.extend_from_slice(&key_name::REPORT.to_le_bytes());
    msg.extend_from_slice(mr_enclave);
    msg.extend_from_slice(&attributes.encode());
    msg.extend_from_slice(&misc_select.to_le_bytes());
    msg.extend_from_slice(key_id);
    kdf(secret, &msg)
}

/// EREPORT: a REPORT of `body` addressed to `target`, MACed with the target's report key.
///
/// `key_id` should be fresh per platform boot or per report (hardware uses a per-boot value).
pub fn create_report(
    secret: &PlatformSecret,
    body: ReportBody,
    target: &TargetInfo,
    key_id: [u8; 32],
) -> Report {
    let key = report_key(
        secret,
        &target.mr_enclave,
        &target.attributes,
        target.misc_select,
        &key_id,
    );
    let mac = report_mac(&key, &body);
    Report { body, key_id, mac }
}

/// Checks a REPORT's MAC as the enclave `verifier` would (the SDK's `sgx_verify_report`).
pub fn verify_report(
    secret: &PlatformSecret,
    report: &Report,
    verifier: &TargetInfo,
) -> Result<(), KeyError> {
    let key = report_key(
        secret,
        &verifier.mr_enclave,
        &verifier.attributes,
        verifier.misc_select,
        &report.key_id,
    );
    // verify_slice compares in constant time, so a forger learns nothing from timing.
    cmac_of(&key, &report.body)
        .verify_slice(&report.mac)
        .map_err(|_| KeyError::BadReportMac {
            target: crate::codec::hex(&verifier.mr_enclave),
        })
}

/// AES-128-CMAC of the 384-byte encoded REPORT BODY.
pub fn report_mac(key: &DerivedKey, body: &ReportBody) -> [u8; 16] {
    cmac_of(key, body).finalize().into_bytes().into()
}

fn cmac_of(key: &DerivedKey, body: &ReportBody) -> Cmac<Aes128> {
    let mut mac = <Cmac<Aes128> as cmac::digest::KeyInit>::new(key.expose().into());
    mac.update(&body.encode());
    mac
}

fn kdf(secret: &PlatformSecret, msg: &[u8]) -> DerivedKey {
    use hmac::Mac as _;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose())
        .expect("hmac accepts keys of any length, so new_from_slice cannot fail");
    mac.update(msg);
    let mut full: [u8; 32] = mac.finalize().into_bytes().into();
    let mut key = [0u8; 16];
    key.copy_from_slice(&full[..16]);
    full.zeroize();
    DerivedKey(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> PlatformSecret {
        PlatformSecret::new([0x42; 32])
    }

    fn identity() -> EnclaveIdentity {
        EnclaveIdentity {
            mr_enclave: [1; 32],
            mr_signer: [2; 32],
            isv_prod_id: 3,
            isv_svn: 4,
            config_svn: 0,
            attributes: Attributes::new(Attributes::INIT | Attributes::MODE64BIT, 3),
            misc_select: 0,
        }
    }

    fn seal_request(policy: u16) -> KeyRequest {
        KeyRequest {
            key_name: key_name::SEAL,
            key_policy: policy,
            isv_svn: 4,
            key_id: [9; 32],
            ..KeyRequest::default()
        }
    }

    #[test]
    fn policy_selects_the_identity() {
        let id = identity();
        let mut other_enclave = identity();
        other_enclave.mr_enclave = [7; 32];
        let mut other_signer = identity();
        other_signer.mr_signer = [7; 32];

        let by_signer = seal_request(key_policy::MRSIGNER);
        let k = egetkey(&secret(), &by_signer, &id).unwrap();
        assert_eq!(k, egetkey(&secret(), &by_signer, &other_enclave).unwrap());
        assert_ne!(k, egetkey(&secret(), &by_signer, &other_signer).unwrap());

        let by_enclave = seal_request(key_policy::MRENCLAVE);
        let k = egetkey(&secret(), &by_enclave, &id).unwrap();
        assert_ne!(k, egetkey(&secret(), &by_enclave, &other_enclave).unwrap());
        assert_eq!(k, egetkey(&secret(), &by_enclave, &other_signer).unwrap());

        // Different key ids, platform secrets and debug attributes give different keys.
        let mut req = seal_request(key_policy::MRENCLAVE);
        req.key_id[0] ^= 1;
        assert_ne!(k, egetkey(&secret(), &req, &id).unwrap());
        assert_ne!(
            k,
            egetkey(&PlatformSecret::new([0; 32]), &by_enclave, &id).unwrap()
        );
        let mut debug = identity();
        debug.attributes.flags |= Attributes::DEBUG;
        assert_ne!(k, egetkey(&secret(), &by_enclave, &debug).unwrap());
    }

    #[test]
    fn older_svn_is_allowed_newer_is_refused() {
        let mut req = seal_request(key_policy::MRSIGNER);
        req.isv_svn = 3;
        let old = egetkey(&secret(), &req, &identity()).unwrap();
        assert_ne!(
            old,
            egetkey(&secret(), &seal_request(key_policy::MRSIGNER), &identity()).unwrap()
        );
        req.isv_svn = 5;
        assert_eq!(
            egetkey(&secret(), &req, &identity())
                .unwrap_err()
                .to_string(),
            "keyrequest isv_svn 5 is above the enclave's isv_svn 4"
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let mut req = seal_request(key_policy::CONFIGID);
        assert_eq!(
            egetkey(&secret(), &req, &identity())
                .unwrap_err()
                .to_string(),
            "keyrequest key_policy 0x0008 has unsupported bits 0x0008"
        );
        let mut reserved = seal_request(key_policy::MRSIGNER);
        reserved.reserved2[7] = 1;
        assert_eq!(
            egetkey(&secret(), &reserved, &identity())
                .unwrap_err()
                .to_string(),
            "keyrequest reserved bytes reserved2 are not zero"
        );
        req.key_name = 9;
        assert_eq!(
            egetkey(&secret(), &req, &identity())
                .unwrap_err()
                .to_string(),
            "keyrequest key_name 9 is not a known key name (0..=4)"
        );
        req.key_name = key_name::PROVISION;
        assert_eq!(
            egetkey(&secret(), &req, &identity())
                .unwrap_err()
                .to_string(),
            "keyrequest key_name 1 requires enclave attribute provision_key"
        );
    }

    #[test]
    fn report_round_trip_between_two_enclaves() {
        let a = identity();
        let mut b = identity();
        b.mr_enclave = [0xbb; 32];
        let body = a.report_body([5; 64]);
        assert_eq!(EnclaveIdentity::from_report_body(&body), a);
        let report = create_report(&secret(), body, &b.target_info(), [3; 32]);
        verify_report(&secret(), &report, &b.target_info()).unwrap();

        // EGETKEY(REPORT) inside b yields the same key.
        let req = KeyRequest {
            key_name: key_name::REPORT,
            key_id: report.key_id,
            ..KeyRequest::default()
        };
        let key = egetkey(&secret(), &req, &b).unwrap();
        assert_eq!(report_mac(&key, &report.body), report.mac);

        // Not verifiable by a, nor with another platform secret, nor after tampering.
        let err = verify_report(&secret(), &report, &a.target_info()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "report mac does not verify for target mrenclave {}",
                "01".repeat(32)
            )
        );
        assert!(verify_report(&PlatformSecret::new([1; 32]), &report, &b.target_info()).is_err());
        let mut t = report.clone();
        t.body.report_data[0] ^= 1;
        assert!(verify_report(&secret(), &t, &b.target_info()).is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(format!("{:?}", secret()), "PlatformSecret(<redacted>)");
        let k = egetkey(&secret(), &seal_request(key_policy::MRSIGNER), &identity()).unwrap();
        assert_eq!(format!("{k:?}"), "DerivedKey(<redacted>)");
    }

    #[test]
    fn cmac_matches_rfc4493_example() {
        // RFC 4493 §4, example 2 (16-byte message) checks the AES-CMAC construction we use.
        let key: [u8; 16] = hex::decode("2b7e151628aed2a6abf7158809cf4f3c")
            .unwrap()
            .try_into()
            .unwrap();
        let mut mac = <Cmac<Aes128> as cmac::digest::KeyInit>::new(&key.into());
        mac.update(&hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap());
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "070a16b46b4d4144f79bdd9dd04a287c"
        );
    }
}
