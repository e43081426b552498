//! Image tooling and the enclave launch checks through the library API.

mod common;

use std::path::{Path, PathBuf};

use common::{key, other_key, Fixture};
use erpal_sim::enclave::{Enclave, EnclaveError, InitArgs};
use erpal_sim::manifest::{ArgvPolicy, EnvPolicy};
use erpal_sim::measure::ImageDigest;
use erpal_sim::{inspect_bundle, measure_bundle, ImageError, Platform, SignOptions};

const ARGS: &[&str] = &["sh", "-c", "echo hi; exit 3"];

fn load(fx: &Fixture) -> Result<Enclave, EnclaveError> {
    Platform::load_or_create(&fx.platform_dir()).unwrap();
    Enclave::load(&InitArgs::parse(&fx.init_args()).unwrap(), None)
}

#[test]
fn an_image_epm_verified_is_bound_without_its_signature_checked_again() {
    let Some(fx) = Fixture::new(ARGS) else { return };
    let signed = fx.sign(&SignOptions::default());
    Platform::load_or_create(&fx.platform_dir()).unwrap();
    let args = InitArgs::parse(&fx.init_args()).unwrap();
    let digest = |signed: &erpal_sim::SignedImage| {
        ImageDigest::of(
            &std::fs::read(&signed.manifest_path).unwrap(),
            &std::fs::read(&signed.sigstruct_path).unwrap(),
        )
    };
    let good = digest(&signed);
    let full = Enclave::load(&args, None).unwrap();
    let vouched = Enclave::load(&args, Some(&good)).unwrap();
    assert_eq!(vouched.identity(), full.identity());

    let mut sigstruct = std::fs::read(&signed.sigstruct_path).unwrap();
    sigstruct[600] ^= 1;
    std::fs::write(&signed.sigstruct_path, &sigstruct).unwrap();
    let broken = digest(&signed);
    for verified in [None, Some(&good)] {
        let err = Enclave::load(&args, verified).unwrap_err();
        assert!(
            chain(&err).contains("sim enclave sigstruct does not verify"),
            "verified image {verified:?}: {}",
            chain(&err)
        );
    }
    // Only a digest of these very bytes skips the signature; the fields are still bound.
    assert_eq!(
        Enclave::load(&args, Some(&broken)).unwrap().identity(),
        full.identity()
    );
    let text = std::fs::read_to_string(&signed.manifest_path).unwrap();
    std::fs::write(
        &signed.manifest_path,
        text.replace("\"debug\": false", "\"debug\": true"),
    )
    .unwrap();
    let err = Enclave::load(&args, Some(&digest(&signed))).unwrap_err();
    assert!(chain(&err).contains("attributes.debug"), "{}", chain(&err));
}

/// An error and its sources, joined as `{:#}` of anyhow would.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn sign_resolves_the_entrypoint_and_trusts_includes() {
    let Some(fx) = Fixture::new(ARGS) else { return };
    let signed = fx.sign(&SignOptions::default());
    let m = &signed.manifest;
    // args[0] "sh" is found in PATH=/bin and /bin/sh -> busybox is followed in the rootfs.
    assert_eq!(m.entrypoint(), "/bin/busybox");
    let paths: Vec<&str> = m.trusted_files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["/bin/busybox", "/etc/app/config"]);
    assert_eq!(
        m.argv(),
        &ArgvPolicy::Fixed {
            argv: strings(ARGS)
        }
    );
    assert_eq!(
        m.env(),
        &EnvPolicy::Allow {
            names: strings(&["PATH", "TERM"])
        }
    );
    let measured = measure_bundle(&fx.bundle()).unwrap();
    assert_eq!(measured, signed.measurement);
    assert_eq!(measured.mrsigner, key().mr_signer());
    let json = serde_json::to_value(measured).unwrap();
    assert_eq!(json["mrenclave"], hex::encode(measured.mrenclave));
    let inspection = inspect_bundle(&fx.bundle()).unwrap();
    assert_eq!(inspection.tee, "sim");
    assert!(inspection.valid, "{:?}", inspection.problem);
    assert_eq!(inspection.manifest["tee"], "sim");
    assert_eq!(
        std::fs::metadata(&signed.sigstruct_path).unwrap().len(),
        1808
    );
}

#[test]
fn tampering_changes_the_measurement_and_a_new_key_changes_mrsigner() {
    let Some(fx) = Fixture::new(ARGS) else { return };
    let before = fx.sign(&SignOptions::default()).measurement;
    std::fs::write(fx.rootfs().join("etc/app/config"), b"greeting=evil\n").unwrap();
    let after = fx.sign(&SignOptions::default()).measurement;
    assert_ne!(before.mrenclave, after.mrenclave);
    assert_eq!(before.mrsigner, after.mrsigner);
    let other = erpal_sim::sign_bundle(
        &fx.bundle(),
        other_key(),
        &[PathBuf::from("/etc/app")],
        &SignOptions::default(),
    )
    .unwrap();
    assert_eq!(other.measurement.mrenclave, after.mrenclave);
    assert_ne!(other.measurement.mrsigner, after.mrsigner);
}

#[test]
fn launch_checks_trusted_files_argv_and_env() {
    let Some(fx) = Fixture::new(ARGS) else { return };
    fx.sign(&SignOptions::default());
    let enclave = load(&fx).unwrap();
    let env = strings(&["PATH=/bin"]);
    let ok = enclave.prepare("/bin/sh", &strings(ARGS), &env).unwrap();
    assert_eq!(ok.entrypoint, "/bin/busybox");

    let err = enclave
        .prepare("/bin/busybox", &strings(&["sh", "-c", "id"]), &env)
        .unwrap_err();
    assert!(matches!(err, EnclaveError::Argv { .. }), "{err}");
    let err = enclave
        .prepare(
            "/bin/busybox",
            &strings(ARGS),
            &strings(&["LD_PRELOAD=/x.so"]),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "sim enclave refuses environment variable LD_PRELOAD: not in the manifest's allowed names"
    );
    std::fs::copy(common::BUSYBOX, fx.rootfs().join("bin/other")).unwrap();
    let err = enclave
        .prepare("/bin/other", &strings(ARGS), &env)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the signed entrypoint is /bin/busybox"),
        "{err}"
    );

    // A trusted file changed after signing: refused, naming the file and both hashes.
    let expected = enclave
        .manifest()
        .trusted_file("/etc/app/config")
        .unwrap()
        .sha256;
    std::fs::write(fx.rootfs().join("etc/app/config"), b"greeting=evil\n").unwrap();
    let err = enclave
        .prepare("/bin/sh", &strings(ARGS), &env)
        .unwrap_err()
        .to_string();
    let actual = erpal_sim::hash::sha256(b"greeting=evil\n");
    assert_eq!(
        err,
        format!("sim enclave trusted file /etc/app/config was modified: sha256 is {actual}, the signed manifest says {expected}")
    );
}

#[test]
fn init_refuses_unsigned_and_mismatched_images() {
    let Some(fx) = Fixture::new(ARGS) else { return };
    let err = load(&fx).unwrap_err();
    assert!(
        matches!(&err, EnclaveError::Image(e) if matches!(**e, ImageError::Read { .. })),
        "{err}"
    );

    let signed = fx.sign(&SignOptions::default());
    // Edit the manifest without re-signing: the measurement no longer matches.
    let text = std::fs::read_to_string(&signed.manifest_path).unwrap();
    std::fs::write(
        &signed.manifest_path,
        text.replace("\"isv_svn\": 0", "\"isv_svn\": 1"),
    )
    .unwrap();
    let err = load(&fx).unwrap_err().to_string();
    assert!(
        err.starts_with("sim enclave image measurement mismatch: manifest gives "),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "sigstruct says {}",
            hex::encode(signed.measurement.mrenclave)
        )),
        "{err}"
    );
    assert!(measure_bundle(&fx.bundle()).is_err());
    let inspection = inspect_bundle(&fx.bundle()).unwrap();
    assert!(!inspection.valid);

    // A corrupted signature.
    fx.sign(&SignOptions::default());
    let mut sig = std::fs::read(&signed.sigstruct_path).unwrap();
    sig[600] ^= 1;
    std::fs::write(&signed.sigstruct_path, &sig).unwrap();
    let err = load(&fx).unwrap_err().to_string();
    assert!(err.contains("does not verify"), "{err}");
}

#[test]
fn signing_options_reach_the_sigstruct_and_identity() {
    let Some(fx) = Fixture::new(ARGS) else { return };
    let options = SignOptions {
        isv_prod_id: 42,
        isv_svn: 7,
        debug: true,
        memory_size: 1 << 30,
        argv: Some(ArgvPolicy::Any),
        env: Some(EnvPolicy::Any),
        in_rootfs: false,
    };
    let signed = fx.sign(&options);
    assert_eq!(signed.sigstruct.isv_prod_id, 42);
    assert_eq!(signed.sigstruct.isv_svn, 7);
    assert!(signed.sigstruct.attributes.is_debug());
    let enclave = load(&fx).unwrap();
    let id = enclave.identity();
    assert_eq!((id.isv_prod_id, id.isv_svn), (42, 7));
    assert!(id.attributes.is_debug());
    enclave
        .prepare("/bin/sh", &strings(&["anything"]), &strings(&["X=1"]))
        .unwrap();
    let err = enclave
        .prepare("/bin/sh", &strings(&["x"]), &strings(&["LD_PRELOAD=/a"]))
        .unwrap_err();
    assert!(err.to_string().contains("unmeasured code"), "{err}");
}

#[test]
fn missing_entrypoint_and_library_errors_name_them() {
    let Some(fx) = Fixture::new(&["nope"]) else {
        return;
    };
    let err =
        erpal_sim::sign_bundle(&fx.bundle(), key(), &[], &SignOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("entrypoint \"nope\" not found in rootfs"),
        "{err}"
    );
    // A dynamically linked program whose libraries are not in the rootfs.
    let Some(fx) = Fixture::new(&["/bin/true"]) else {
        return;
    };
    let true_bin = Path::new("/bin/true");
    if true_bin.exists() {
        std::fs::copy(true_bin, fx.rootfs().join("bin/true")).unwrap();
        let err =
            erpal_sim::sign_bundle(&fx.bundle(), key(), &[], &SignOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "ELF interpreter /lib64/ld-linux-x86-64.so.2 of /bin/true not found in rootfs"
            ) || text.contains("needed by /bin/true not found in rootfs"),
            "{text}"
        );
    }
}

#[test]
fn dynamic_programs_trust_their_libraries() {
    let Some(fx) = Fixture::new(&["/bin/true"]) else {
        return;
    };
    let true_bin = Path::new("/bin/true");
    if !true_bin.exists() {
        eprintln!("skipping: /bin/true is not installed");
        return;
    }
    // Copy /bin/true with the libraries the host's ld.so resolves for it into the rootfs.
    let rootfs = fx.rootfs();
    std::fs::copy(true_bin, rootfs.join("bin/true")).unwrap();
    let elf_bytes = std::fs::read(true_bin).unwrap();
    let elf = goblin::elf::Elf::parse(&elf_bytes).unwrap();
    let mut wanted: Vec<String> = elf
        .libraries
        .iter()
        .map(|l| format!("/lib/x86_64-linux-gnu/{l}"))
        .collect();
    if let Some(interp) = elf.interpreter {
        wanted.push(interp.to_owned());
    }
    for lib in &wanted {
        let host = std::fs::canonicalize(lib).unwrap();
        let dest = rootfs.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&host, &dest).unwrap();
    }
    let signed = erpal_sim::sign_bundle(&fx.bundle(), key(), &[], &SignOptions::default()).unwrap();
    let paths: Vec<&str> = signed
        .manifest
        .trusted_files()
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert!(paths.contains(&"/bin/true"), "{paths:?}");
    for lib in &wanted {
        let resolved = erpal_sim::rootfs::resolve(&rootfs, Path::new(lib)).unwrap();
        assert!(
            paths.contains(&resolved.as_str()),
            "{resolved} missing from {paths:?}"
        );
    }
}
