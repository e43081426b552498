//! `sign_bundle_with_progress` reports every trusted file it hashes, then the signing step, and
//! signs exactly what `sign_bundle` signs.

mod common;

use std::path::PathBuf;

use erpal_sim::{sign_bundle_with_progress, SignOptions, SignProgress};

#[test]
fn progress_reports_each_trusted_file_then_signing() {
    let Some(fixture) = common::Fixture::new(&["/bin/sh", "-c", "true"]) else {
        return;
    };
    let mut events = Vec::new();
    let signed = sign_bundle_with_progress(
        &fixture.bundle(),
        common::key(),
        &[PathBuf::from("/etc/app")],
        &SignOptions::default(),
        &mut |step| {
            events.push(match step {
                SignProgress::Hashed { path, bytes } => format!("hashed {path} {bytes}"),
                SignProgress::Signing { files } => format!("signing {files}"),
                _ => "unknown".to_owned(),
            })
        },
    )
    .unwrap();
    let files = signed.manifest.trusted_files();
    let mut expected: Vec<String> = files
        .iter()
        .map(|f| format!("hashed {} {}", f.path, f.size))
        .collect();
    expected.sort();
    let (signing, hashed) = events.split_last().unwrap();
    let mut hashed = hashed.to_vec();
    hashed.sort();
    assert_eq!(hashed, expected);
    assert_eq!(signing, &format!("signing {}", files.len()));
    assert_eq!(
        signed.measurement,
        fixture.sign(&SignOptions::default()).measurement
    );
}
