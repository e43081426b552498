//! The claims model: what a verifier learned from a piece of evidence.
//!
//! Every verifier in this crate (DCAP, sim, sample) produces the same [`Claims`], so policies
//! (verdictd's Rego, the appraisal policy in [`crate::policy`]) are written once. Byte fields
//! serialise as lowercase hex; enums use the names Intel and Confidential Containers use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of TEE that produced the evidence.
///
/// `sim` is the software TEE of `liberpal-sim.so`: it has no hardware protection, and every
/// surface that shows claims must show this value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TeeKind {
    /// Intel SGX enclave, verified with Intel DCAP collateral.
    Sgx,
    /// Intel TDX trust domain, verified with Intel DCAP collateral.
    Tdx,
    /// The software TEE (no hardware): an SGX-layout quote chained to a configured sim root CA.
    Sim,
    /// Confidential Containers' `sample` test TEE (no hardware, no signature).
    Sample,
    /// AMD SEV-SNP guest. Only an attester exists for it here (configfs-tsm); its reports are
    /// not verified by this crate yet.
    Snp,
}

impl TeeKind {
    /// The lowercase name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sgx => "sgx",
            Self::Tdx => "tdx",
            Self::Sim => "sim",
            Self::Sample => "sample",
            Self::Snp => "snp",
        }
    }

    /// Whether evidence of this kind is protected by TEE hardware.
    pub fn is_hardware(self) -> bool {
        matches!(self, Self::Sgx | Self::Tdx | Self::Snp)
    }
}

impl fmt::Display for TeeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TCB status of the platform, with the names Intel's TCB info and QVL use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TcbStatus {
    /// The platform is patched to the latest TCB.
    UpToDate,
    /// Up to date, but the enclave needs software mitigations (see the advisories).
    SWHardeningNeeded,
    /// Up to date, but the platform configuration needs a change (see the advisories).
    ConfigurationNeeded,
    /// Both configuration changes and software hardening are needed.
    ConfigurationAndSWHardeningNeeded,
    /// The platform TCB is out of date.
    OutOfDate,
    /// Out of date, and the configuration needs a change too.
    OutOfDateConfigurationNeeded,
    /// The platform's keys are revoked: never trust it.
    Revoked,
    /// TDX 1.5: launched on an out-of-date TCB that has since been updated; relaunch the TD.
    TDRelaunchAdvised,
    /// [`TcbStatus::TDRelaunchAdvised`] where configuration is needed too.
    TDRelaunchAdvisedConfigurationNeeded,
}

impl TcbStatus {
    /// Every status, in Intel's order of severity.
    pub const ALL: [Self; 9] = [
        Self::UpToDate,
        Self::SWHardeningNeeded,
        Self::ConfigurationNeeded,
        Self::ConfigurationAndSWHardeningNeeded,
        Self::OutOfDate,
        Self::OutOfDateConfigurationNeeded,
        Self::Revoked,
        Self::TDRelaunchAdvised,
        Self::TDRelaunchAdvisedConfigurationNeeded,
    ];

    /// Intel's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SWHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            Self::Revoked => "Revoked",
            Self::TDRelaunchAdvised => "TDRelaunchAdvised",
            Self::TDRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
        }
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown TCB status name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tcb status {0:?}: expected one of UpToDate, SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate, OutOfDateConfigurationNeeded, Revoked, TDRelaunchAdvised, TDRelaunchAdvisedConfigurationNeeded")]
pub struct UnknownTcbStatus(pub String);

impl FromStr for TcbStatus {
    type Err = UnknownTcbStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownTcbStatus(s.to_owned()))
    }
}

/// The measurement registers of the TEE, by kind.
///
/// Serialised flat into [`Claims`]: `mrenclave`/`mrsigner` for SGX and sim, `mrtd` and
/// `rtmr0`..`rtmr3` for TDX, nothing for the sample TEE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Measurements {
    /// SGX enclave identity (also used by the sim TEE, whose MRENCLAVE uses the SGX algorithm).
    Sgx {
        /// MRENCLAVE: SHA-256 of the enclave's build log.
        #[serde(with = "hex_array")]
        mrenclave: [u8; 32],
        /// MRSIGNER: SHA-256 of the enclave signer's RSA modulus.
        #[serde(with = "hex_array")]
        mrsigner: [u8; 32],
    },
    /// TDX trust domain measurements.
    Tdx {
        /// MRTD: measurement of the initial TD contents.
        #[serde(with = "hex_array")]
        mrtd: [u8; 48],
        /// RTMR0: runtime measurement register 0 (firmware configuration).
        #[serde(with = "hex_array")]
        rtmr0: [u8; 48],
        /// RTMR1: runtime measurement register 1 (OS loader, kernel).
        #[serde(with = "hex_array")]
        rtmr1: [u8; 48],
        /// RTMR2: runtime measurement register 2 (OS, applications).
        #[serde(with = "hex_array")]
        rtmr2: [u8; 48],
        /// RTMR3: runtime measurement register 3 (reserved for the TD's own use).
        #[serde(with = "hex_array")]
        rtmr3: [u8; 48],
    },
    /// No measurement registers (the sample TEE).
    None {},
}

/// What a verifier established about a piece of evidence.
///
/// The JSON form is one flat object, e.g. for SGX:
/// `{"tee":"sgx","mrenclave":"…","mrsigner":"…","isv_prod_id":0,"isv_svn":0,"debug":false,
/// "tcb_status":"UpToDate","advisory_ids":[],"report_data":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Which TEE produced the evidence; `sim` and `sample` mean no hardware protection.
    pub tee: TeeKind,
    /// The measurement registers.
    #[serde(flatten)]
    pub measurements: Measurements,
    /// ISV product id (SGX, sim); `None` for TDX, which has none.
    pub isv_prod_id: Option<u16>,
    /// ISV security version number (SGX, sim, sample `svn`); `None` for TDX.
    pub isv_svn: Option<u16>,
    /// Whether the enclave or TD runs in debug mode (its memory is readable by the host).
    pub debug: bool,
    /// The TCB status of the platform. A sim quote reports `UpToDate`; `tee` says it is sim.
    pub tcb_status: TcbStatus,
    /// Intel security advisories that apply to the platform's TCB level.
    pub advisory_ids: Vec<String>,
    /// The 64 bytes of REPORTDATA the TEE bound into the evidence.
    #[serde(with = "hex_array")]
    pub report_data: [u8; 64],
}

impl Claims {
    /// Whether the claims come from TEE hardware rather than the sim or sample TEE.
    pub fn is_hardware(&self) -> bool {
        self.tee.is_hardware()
    }

    /// The claims as one JSON object (see the type's documentation for the shape).
    pub fn to_json(&self) -> serde_json::Value {
        // Serialising plain data (strings, integers, fixed arrays as hex) into a Value cannot
        // fail: there are no maps with non-string keys and no fallible Serialize impls.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Serde helpers for fixed-size byte arrays as lowercase hex strings.
pub(crate) mod hex_array {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    /// Serialise bytes as lowercase hex.
    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    /// Deserialise `N` bytes from a hex string of exactly `2 * N` digits.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = hex::decode(&text).map_err(D::Error::custom)?;
        let len = bytes.len();
        bytes
            .try_into()
            .map_err(|_| D::Error::custom(format!("expected {N} hex-encoded bytes, got {len}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sgx_claims() -> Claims {
        Claims {
            tee: TeeKind::Sgx,
            measurements: Measurements::Sgx {
                mrenclave: [0xab; 32],
                mrsigner: [0x01; 32],
            },
            isv_prod_id: Some(1),
            isv_svn: Some(2),
            debug: false,
            tcb_status: TcbStatus::SWHardeningNeeded,
            advisory_ids: vec!["INTEL-SA-00615".into()],
            report_data: [0; 64],
        }
    }

    #[test]
    fn sgx_claims_serialise_flat_with_lowercase_hex() {
        let json = sgx_claims().to_json();
        assert_eq!(json["tee"], "sgx");
        assert_eq!(json["mrenclave"], "ab".repeat(32));
        assert_eq!(json["mrsigner"], "01".repeat(32));
        assert_eq!(json["isv_prod_id"], 1);
        assert_eq!(json["tcb_status"], "SWHardeningNeeded");
        assert_eq!(json["report_data"], "00".repeat(64));
        assert!(json.get("mrtd").is_none());
    }

    #[test]
    fn claims_round_trip_through_json() {
        let claims = sgx_claims();
        let text = serde_json::to_string(&claims).unwrap();
        let back: Claims = serde_json::from_str(&text).unwrap();
        assert_eq!(back, claims);

        let tdx = Claims {
            tee: TeeKind::Tdx,
            measurements: Measurements::Tdx {
                mrtd: [1; 48],
                rtmr0: [2; 48],
                rtmr1: [3; 48],
                rtmr2: [4; 48],
                rtmr3: [5; 48],
            },
            isv_prod_id: None,
            isv_svn: None,
            ..claims
        };
        let text = serde_json::to_string(&tdx).unwrap();
        assert!(text.contains("\"rtmr3\":\"05"), "{text}");
        let back: Claims = serde_json::from_str(&text).unwrap();
        assert_eq!(back, tdx);
    }

    #[test]
    fn tcb_status_names_round_trip() {
        for status in TcbStatus::ALL {
            assert_eq!(status.as_str().parse::<TcbStatus>().unwrap(), status);
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::String(status.to_string())
            );
        }
        let err = "Fine".parse::<TcbStatus>().unwrap_err();
        assert!(err.to_string().starts_with("unknown tcb status \"Fine\""));
    }

    #[test]
    fn tee_kinds_are_lowercase() {
        assert_eq!(serde_json::to_value(TeeKind::Sim).unwrap(), "sim");
        assert!(!TeeKind::Sim.is_hardware());
        assert!(TeeKind::Tdx.is_hardware());
    }
}
