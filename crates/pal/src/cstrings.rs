//! Owned NUL-terminated strings and NULL-terminated string arrays for calls into a PAL.
//!
//! Safe code only: this module builds the buffers and hands out the pointers; the `loader`
//! module keeps the buffers alive and untouched for as long as C may read them. The buffers are
//! plain `Vec<u8>` rather than `CString`, because the v1 `pal_exec` takes `char *` and
//! `char *argv[]`: C may legally write into them, which a `CString`'s read-only pointer forbids.

use std::ffi::{c_char, OsStr};
use std::os::unix::ffi::OsStrExt;

use crate::error::Error;

/// One string, NUL-terminated, or an error naming `field` if it holds a NUL byte.
pub(crate) fn c_bytes(value: &OsStr, field: impl FnOnce() -> String) -> Result<Vec<u8>, Error> {
    let bytes = value.as_bytes();
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(Error::InteriorNul {
            field: field(),
            offset,
        });
    }
    let mut buf = Vec::with_capacity(bytes.len() + 1);
    buf.extend_from_slice(bytes);
    buf.push(0);
    Ok(buf)
}

/// A string array (argv or env) as owned NUL-terminated buffers.
#[derive(Debug, Clone, Default)]
pub(crate) struct CStringArray {
    items: Vec<Vec<u8>>,
}

/// Which array a [`CStringArray`] is, for naming a bad element.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ArrayKind {
    Argv,
    Env,
}

impl CStringArray {
    /// Converts every element, failing on the first one holding a NUL byte. An env element is
    /// named by its key only: values may be secrets and errors end up in logs.
    pub(crate) fn new<S: AsRef<OsStr>>(kind: ArrayKind, items: &[S]) -> Result<Self, Error> {
        let items = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let item = item.as_ref();
                c_bytes(item, || match kind {
                    ArrayKind::Argv => format!("argv[{index}]"),
                    ArrayKind::Env => {
                        let bytes = item.as_bytes();
                        let key_end = bytes
                            .iter()
                            .position(|&b| b == b'=' || b == 0)
                            .unwrap_or(bytes.len());
                        format!(
                            "env[{index}] ({})",
                            String::from_utf8_lossy(&bytes[..key_end])
                        )
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { items })
    }

    /// Number of strings, not counting the terminating NULL.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// A NULL-terminated array of pointers into the buffers. The pointers stay valid until
    /// `self` is next borrowed or dropped; the `&mut` borrow makes them valid for writes too.
    pub(crate) fn pointers(&mut self) -> Vec<*mut c_char> {
        self.items
            .iter_mut()
            .map(|item| item.as_mut_ptr().cast::<c_char>())
            .chain(std::iter::once(std::ptr::null_mut()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_nul_names_the_argv_index() {
        let err = CStringArray::new(ArrayKind::Argv, &["ok", "a\0b"]).unwrap_err();
        assert_eq!(err.to_string(), "argv[1] contains a NUL byte at offset 1");
    }

    #[test]
    fn interior_nul_in_env_names_the_key_not_the_value() {
        let err = CStringArray::new(ArrayKind::Env, &["A=1", "SECRET=hunter\u{0}2"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "env[1] (SECRET) contains a NUL byte at offset 13"
        );
    }

    #[test]
    fn pointers_are_null_terminated() {
        let mut array = CStringArray::new(ArrayKind::Argv, &["a", ""]).unwrap();
        let pointers = array.pointers();
        assert_eq!(array.len(), 2);
        assert_eq!(pointers.len(), 3);
        assert!(pointers[2].is_null());
    }
}
