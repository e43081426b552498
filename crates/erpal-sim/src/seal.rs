//! Sealing for sim enclaves: EGETKEY-style seal keys from the platform secret and
//! `sgx_sealed_data_t` blobs (AES-128-GCM, 560-byte header), via the `sgx` crate.
//!
//! [`SealPolicy::MrEnclave`] binds a blob to the exact enclave (any change to a trusted file
//! changes MRENCLAVE, so the blob no longer unseals); [`SealPolicy::MrSigner`] binds it to the
//! signing key, product id and SVN (an enclave of the same signer with an equal or newer SVN
//! unseals it). Keys are per host: a blob never unseals on another host's platform secret.

use rand_core::OsRng;
use sgx::{key_policy, EnclaveIdentity, PlatformSecret, SealError, Unsealed};

/// Which identity a sealed blob is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealPolicy {
    /// The enclave's MRENCLAVE.
    MrEnclave,
    /// The enclave's MRSIGNER (and ISVPRODID, with SVN rollback protection).
    MrSigner,
}

impl SealPolicy {
    /// The KEYREQUEST.KEYPOLICY bits.
    pub fn key_policy(self) -> u16 {
        match self {
            Self::MrEnclave => key_policy::MRENCLAVE,
            Self::MrSigner => key_policy::MRSIGNER,
        }
    }
}

/// Seals `data` for `identity` under `policy` with the platform secret (pass
/// `platform.secret()`); a fresh random KEYID per blob.
pub fn seal(
    secret: &PlatformSecret,
    identity: &EnclaveIdentity,
    policy: SealPolicy,
    data: &[u8],
) -> Result<Vec<u8>, SealError> {
    sgx::seal(secret, identity, policy.key_policy(), data, &[], &mut OsRng)
}

/// Unseals a blob as `identity`; fails unless `identity` matches the blob's policy.
pub fn unseal(
    secret: &PlatformSecret,
    identity: &EnclaveIdentity,
    blob: &[u8],
) -> Result<Unsealed, SealError> {
    sgx::unseal(secret, identity, blob)
}

#[cfg(test)]
mod tests {
    use sgx::Attributes;

    use super::*;

    fn identity(mr_enclave: u8, mr_signer: u8, svn: u16) -> EnclaveIdentity {
        EnclaveIdentity {
            mr_enclave: [mr_enclave; 32],
            mr_signer: [mr_signer; 32],
            isv_prod_id: 1,
            isv_svn: svn,
            config_svn: 0,
            attributes: Attributes::new(Attributes::INIT | Attributes::MODE64BIT, 3),
            misc_select: 0,
        }
    }

    #[test]
    fn mrenclave_policy_unseals_only_under_the_same_mrenclave() {
        let secret = PlatformSecret::new([7; 32]);
        let blob = seal(
            &secret,
            &identity(1, 2, 1),
            SealPolicy::MrEnclave,
            b"secret",
        )
        .unwrap();
        assert_eq!(
            unseal(&secret, &identity(1, 2, 1), &blob)
                .unwrap()
                .plaintext
                .as_slice(),
            b"secret"
        );
        // Same MRENCLAVE, other signer: MRSIGNER is not part of an MRENCLAVE-policy key.
        assert!(unseal(&secret, &identity(1, 3, 1), &blob).is_ok());
        assert!(unseal(&secret, &identity(9, 2, 1), &blob).is_err());
        assert!(unseal(&PlatformSecret::new([8; 32]), &identity(1, 2, 1), &blob).is_err());
    }

    #[test]
    fn mrsigner_policy_unseals_only_under_the_same_mrsigner() {
        let secret = PlatformSecret::new([7; 32]);
        let blob = seal(&secret, &identity(1, 2, 1), SealPolicy::MrSigner, b"secret").unwrap();
        assert!(unseal(&secret, &identity(5, 2, 1), &blob).is_ok());
        assert!(
            unseal(&secret, &identity(5, 2, 2), &blob).is_ok(),
            "a newer svn unseals"
        );
        assert!(unseal(&secret, &identity(1, 3, 1), &blob).is_err());
        let newer = seal(&secret, &identity(1, 2, 2), SealPolicy::MrSigner, b"x").unwrap();
        assert!(
            unseal(&secret, &identity(1, 2, 1), &newer).is_err(),
            "no svn rollback"
        );
    }
}
