//! Unit and property tests of the PAL-side conversions and the panic boundary. The C arrays
//! are built with the loader's own `CStringArray`, so the property tests check that what the
//! host sends is exactly what a Rust PAL receives.

use std::ffi::{c_char, c_int, c_void, OsStr};
use std::ptr;

use nix::errno::Errno;
use proptest::prelude::*;

use super::*;
use crate::cstrings::{ArrayKind, CStringArray};

/// Converts `items` to a C array and back through `c_str_array`.
fn round_trip(items: &[String], limits: &Limits) -> Result<Vec<String>, ConvertError> {
    let mut array = CStringArray::new(ArrayKind::Argv, items).expect("no NULs");
    let pointers = array.pointers();
    // SAFETY: `pointers` is a NULL-terminated array of pointers into `array`'s NUL-terminated
    // buffers; both live until the end of this function and are not modified meanwhile.
    unsafe { c_str_array(pointers.as_ptr().cast::<*const c_char>(), "argv", limits) }
}

#[test]
fn c_str_reads_up_to_the_nul() {
    let text = b"hello\0world\0";
    // SAFETY: a NUL-terminated literal that outlives the call.
    let converted = unsafe { c_str(text.as_ptr().cast(), "path", 64) };
    assert_eq!(converted.as_deref(), Ok("hello"));
}

#[test]
fn c_str_null_and_caps() {
    // SAFETY: null is allowed by the contract.
    let err = unsafe { c_str(ptr::null(), "path", 64) }.unwrap_err();
    assert_eq!(err.to_string(), "path is a null pointer");
    assert_eq!(err.errno(), libc::EFAULT);

    let text = b"0123456789\0";
    // SAFETY: a NUL-terminated literal that outlives the call.
    let err = unsafe { c_str(text.as_ptr().cast(), "path", 9) }.unwrap_err();
    assert_eq!(err.to_string(), "path is longer than 9 bytes");
    assert_eq!(err.errno(), libc::E2BIG);
    // SAFETY: as above; exactly at the cap is accepted.
    assert!(unsafe { c_str(text.as_ptr().cast(), "path", 10) }.is_ok());
}

#[test]
fn c_str_rejects_non_utf8_with_offset() {
    let text = b"ab\xffcd\0";
    // SAFETY: a NUL-terminated literal that outlives the call.
    let err = unsafe { c_str(text.as_ptr().cast(), "argv[1]", 64) }.unwrap_err();
    assert_eq!(
        err.to_string(),
        "argv[1] is not valid UTF-8 (bad byte at offset 2)"
    );
}

#[test]
fn array_caps_count_and_total() {
    let items: Vec<String> = (0..5).map(|i| format!("arg{i}")).collect();
    let limits = Limits {
        max_entries: 4,
        ..Limits::DEFAULT
    };
    assert_eq!(
        round_trip(&items, &limits).unwrap_err().to_string(),
        "argv has more than 4 entries"
    );
    let limits = Limits {
        max_total: 10,
        ..Limits::DEFAULT
    };
    assert_eq!(
        round_trip(&items, &limits).unwrap_err().to_string(),
        "argv holds more than 10 bytes in total"
    );
    let limits = Limits {
        max_len: 3,
        ..Limits::DEFAULT
    };
    assert_eq!(
        round_trip(&items, &limits).unwrap_err().to_string(),
        "argv[0] is longer than 3 bytes"
    );
    assert_eq!(round_trip(&items, &Limits::DEFAULT).unwrap(), items);
}

#[test]
fn array_null_element_ends_it_and_null_array_is_an_error() {
    assert_eq!(
        round_trip(&[], &Limits::DEFAULT).unwrap(),
        Vec::<String>::new()
    );
    // SAFETY: null is allowed by the contract.
    let err = unsafe { c_str_array(ptr::null(), "env", &Limits::DEFAULT) }.unwrap_err();
    assert_eq!(err.to_string(), "env is a null pointer");
}

#[test]
fn init_attr_v3_handover_rules() {
    let args = b"a b\0";
    let level = b"info\0";
    let attr = |fd, addr| PalAttrV3 {
        attr_v1: PalAttrV1 {
            args: args.as_ptr().cast(),
            log_level: level.as_ptr().cast(),
        },
        fd,
        addr,
    };
    let convert = |attr: PalAttrV3| {
        // SAFETY: `attr` is a live local whose strings are NUL-terminated literals.
        unsafe { init_attr_v3(&attr) }
    };
    assert_eq!(
        convert(attr(-1, 0)),
        Ok(InitAttr {
            args: "a b".to_owned(),
            log_level: "info".to_owned(),
            handover: None,
        })
    );
    assert_eq!(
        convert(attr(7, 0x1000)).unwrap().handover,
        Some((7, 0x1000))
    );
    assert_eq!(
        convert(attr(-1, 0x1000)).unwrap_err().to_string(),
        "handover fd -1 and addr 0x1000 are inconsistent (no handover is fd -1, addr 0)"
    );
    // SAFETY: null is allowed by the contract.
    assert!(unsafe { init_attr_v3(ptr::null()) }.is_err());
}

#[test]
fn create_process_args_convert_and_pid_is_writable() {
    let mut argv = CStringArray::new(ArrayKind::Argv, &["/bin/true", "x y"]).unwrap();
    let mut env = CStringArray::new(ArrayKind::Env, &["A=1"]).unwrap();
    let argv_ptrs = argv.pointers();
    let env_ptrs = env.pointers();
    let path = b"/bin/true\0";
    let mut stdio = PalStdioFds {
        stdin: 3,
        stdout: 4,
        stderr: 5,
    };
    let mut pid: c_int = -1;
    let mut args = PalCreateProcessArgs {
        path: path.as_ptr().cast(),
        argv: argv_ptrs.as_ptr().cast(),
        env: env_ptrs.as_ptr().cast(),
        stdio: &mut stdio,
        pid: &mut pid,
    };
    {
        // SAFETY: every pointer in `args` points to a live local, strings NUL-terminated and
        // arrays NULL-terminated; `request` is dropped before any of them is used again.
        let request = unsafe { create_process_args(&mut args, &Limits::DEFAULT) }.unwrap();
        assert_eq!(request.path, "/bin/true");
        assert_eq!(request.argv, ["/bin/true", "x y"]);
        assert_eq!(request.env, ["A=1"]);
        assert_eq!(request.stdio, Some(stdio));
        *request.pid = 1234;
    }
    assert_eq!(pid, 1234);

    args.pid = ptr::null_mut();
    // SAFETY: as above, with a null pid, which the contract allows.
    let err = unsafe { create_process_args(&mut args, &Limits::DEFAULT) }.unwrap_err();
    assert_eq!(err.to_string(), "pid is a null pointer");
}

#[test]
fn local_report_args_check_lengths_and_overlap() {
    let mut targetinfo = [0u8; TARGETINFO_SIZE];
    let mut report = [0u8; REPORT_SIZE];
    let mut report_len = c_int::try_from(REPORT_SIZE).unwrap();
    let t = targetinfo.as_mut_ptr().cast::<c_void>();
    let r = report.as_mut_ptr().cast::<c_void>();
    // SAFETY: both buffers are live locals of the advertised sizes, `report_len` a live int.
    let err = unsafe { local_report_args(t, 100, r, &mut report_len) }.unwrap_err();
    assert_eq!(err.to_string(), "targetinfo_len is 100 bytes, expected 512");
    // SAFETY: as above; the same buffer twice is what the check must catch.
    let err = unsafe { local_report_args(t, 512, t, &mut report_len) }.unwrap_err();
    assert_eq!(err.to_string(), "targetinfo and report overlap");
    let mut short: c_int = 10;
    // SAFETY: as above.
    let err = unsafe { local_report_args(t, 512, r, &mut short) }.unwrap_err();
    assert_eq!(err.to_string(), "report_len is 10 bytes, expected 432");
    {
        // SAFETY: as above, distinct buffers of the right sizes.
        let request = unsafe { local_report_args(t, 512, r, &mut report_len) }.unwrap();
        request.report[0] = 7;
    }
    assert_eq!(report[0], 7);
}

#[derive(Debug, thiserror::Error)]
#[error("no such enclave")]
struct NoEnclave;

impl PalError for NoEnclave {
    fn errno(&self) -> c_int {
        libc::ENOENT
    }
}

#[test]
fn boundary_passes_ok_values() {
    assert_eq!(ffi_boundary("pal_test", || Ok::<_, NoEnclave>(3)), 3);
}

#[test]
fn boundary_turns_errors_into_minus_1_and_errno() {
    Errno::clear();
    assert_eq!(ffi_boundary("pal_test", || Err::<c_int, _>(NoEnclave)), -1);
    assert_eq!(Errno::last_raw(), libc::ENOENT);
}

#[test]
fn boundary_catches_panics() {
    Errno::clear();
    let returned = ffi_boundary("pal_test", || -> Result<c_int, NoEnclave> {
        panic!("bug in the PAL")
    });
    assert_eq!(returned, -1);
    assert_eq!(Errno::last_raw(), PANIC_ERRNO);
}

proptest! {
    #[test]
    fn arbitrary_strings_round_trip(items in proptest::collection::vec("[^\u{0}]{0,40}", 0..20)) {
        prop_assert_eq!(round_trip(&items, &Limits::DEFAULT).unwrap(), items);
    }

    #[test]
    fn interior_nul_is_rejected_with_its_index_and_offset(
        before in proptest::collection::vec("[^\u{0}]{0,10}", 0..5),
        head in "[^\u{0}=]{0,10}",
        tail in "[^\u{0}]{0,10}",
    ) {
        let bad = format!("{head}\u{0}{tail}");
        let mut items = before.clone();
        items.push(bad);
        let err = CStringArray::new(ArrayKind::Argv, &items).unwrap_err();
        prop_assert_eq!(
            err.to_string(),
            format!("argv[{}] contains a NUL byte at offset {}", before.len(), head.len())
        );
    }

    #[test]
    fn arbitrary_bytes_convert_iff_utf8(bytes in proptest::collection::vec(1u8..=255, 0..64)) {
        let mut buf = bytes.clone();
        buf.push(0);
        // SAFETY: `buf` is NUL-terminated (no other NUL: bytes are 1..=255) and outlives the call.
        let converted = unsafe { c_str(buf.as_ptr().cast(), "s", 64) };
        match std::str::from_utf8(&bytes) {
            Ok(text) => prop_assert_eq!(converted, Ok(text.to_owned())),
            Err(_) => {
                let is_not_utf8 = matches!(converted, Err(ConvertError::NotUtf8 { .. }));
                prop_assert!(is_not_utf8);
            }
        }
    }

    #[test]
    fn os_str_args_with_nul_never_reach_c(s in "[^\u{0}]{0,10}\u{0}[^\u{0}]{0,10}") {
        prop_assert!(CStringArray::new(ArrayKind::Env, &[OsStr::new(&s)]).is_err());
    }
}
