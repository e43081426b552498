//! Bounded byte reader and writer shared by every layout parser in this crate.
//!
//! Shaped after rustls' `msgs/codec.rs`: a [`Reader`] borrows the input, every read is checked
//! and returns `Result`, nested length-prefixed regions get a sub-reader that cannot read past
//! their declared end, and a structure is complete only when [`Reader::finish`] finds no
//! leftover bytes. Errors name the structure, the field and its offset so a bad input can be
//! located with a hex dump.
//!
//! Nothing here casts raw bytes into structs: integers are assembled with `from_le_bytes`.

use thiserror::Error;

/// Why a byte string is not a valid SGX/DCAP structure.
///
/// Offsets are relative to the start of the named structure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input is shorter than the fixed size of the structure.
    #[error("{structure} too short: {actual} bytes, expected {expected}")]
    TooShort {
        /// Structure being parsed, e.g. `sigstruct`.
        structure: &'static str,
        /// Length of the input.
        actual: usize,
        /// Length the structure requires.
        expected: usize,
    },
    /// The input is longer than the fixed size of the structure (trailing bytes).
    #[error("{structure} too long: {actual} bytes, expected {expected}")]
    TooLong {
        /// Structure being parsed.
        structure: &'static str,
        /// Length of the input.
        actual: usize,
        /// Length the structure requires.
        expected: usize,
    },
    /// A field runs past the end of the input or of its enclosing length-prefixed region.
    #[error(
        "{structure} truncated at {field} (offset {offset}): need {needed} bytes, {available} left"
    )]
    Truncated {
        /// Structure being parsed.
        structure: &'static str,
        /// Field that did not fit.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the enclosing region.
        available: usize,
    },
    /// Bytes are left over after the last field of a length-delimited region.
    #[error("{structure} has {count} trailing bytes at offset {offset}")]
    TrailingBytes {
        /// Structure (or region) being parsed.
        structure: &'static str,
        /// Number of unexpected bytes.
        count: usize,
        /// Offset of the first unexpected byte.
        offset: usize,
    },
    /// A field that the specification fixes to a constant holds another value.
    #[error("{structure} field {field} (offset {offset}) is {actual}, expected {expected}")]
    InvalidConstant {
        /// Structure being parsed.
        structure: &'static str,
        /// Field name.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Value found, hex-encoded.
        actual: String,
        /// Value required, hex-encoded.
        expected: String,
    },
    /// Reserved bytes that the specification requires to be zero are not.
    #[error("{structure} reserved bytes {field} (offset {offset}) are not zero")]
    ReservedNotZero {
        /// Structure being parsed.
        structure: &'static str,
        /// Name of the reserved region.
        field: &'static str,
        /// Offset of the reserved region.
        offset: usize,
    },
    /// A length or offset field holds a value that is inconsistent with the structure.
    #[error("{structure} field {field} (offset {offset}) is {value}, {reason}")]
    InvalidLength {
        /// Structure being parsed.
        structure: &'static str,
        /// Field name.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Value found.
        value: u64,
        /// What was wrong with it, e.g. `larger than payload_size 16`.
        reason: String,
    },
}

/// Checks that `bytes` is exactly `expected` long, naming `structure` in the error.
pub(crate) fn check_len(
    structure: &'static str,
    bytes: &[u8],
    expected: usize,
) -> Result<(), ParseError> {
    let actual = bytes.len();
    if actual < expected {
        Err(ParseError::TooShort {
            structure,
            actual,
            expected,
        })
    } else if actual > expected {
        Err(ParseError::TooLong {
            structure,
            actual,
            expected,
        })
    } else {
        Ok(())
    }
}

/// A checked cursor over a borrowed byte slice.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` within the outermost structure, for error messages.
    base: usize,
    structure: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`, which holds a `structure`.
    pub(crate) fn new(structure: &'static str, buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
            structure,
        }
    }

    /// Offset of the next byte within the outermost structure.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads the next `n` bytes of `field`.
    pub(crate) fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], ParseError> {
        let available = self.remaining();
        if n > available {
            return Err(ParseError::Truncated {
                structure: self.structure,
                field,
                offset: self.offset(),
                needed: n,
                available,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a fixed-size byte array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], ParseError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    /// Reads a little-endian `u8`.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, ParseError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Reads a little-endian `u16`.
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, ParseError> {
        self.array(field).map(u16::from_le_bytes)
    }

    /// Reads a little-endian `u32`.
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, ParseError> {
        self.array(field).map(u32::from_le_bytes)
    }

    /// Reads a little-endian `u64`.
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, ParseError> {
        self.array(field).map(u64::from_le_bytes)
    }

    /// Reads `N` reserved bytes that must all be zero.
    pub(crate) fn zeros<const N: usize>(&mut self, field: &'static str) -> Result<(), ParseError> {
        let offset = self.offset();
        if self.take(field, N)?.iter().any(|&b| b != 0) {
            return Err(ParseError::ReservedNotZero {
                structure: self.structure,
                field,
                offset,
            });
        }
        Ok(())
    }

    /// Splits off the next `n` bytes as a reader that cannot read past them.
    pub(crate) fn sub(
        &mut self,
        structure: &'static str,
        field: &'static str,
        n: usize,
    ) -> Result<Reader<'a>, ParseError> {
        let base = self.offset();
        let buf = self.take(field, n)?;
        Ok(Reader {
            buf,
            pos: 0,
            base,
            structure,
        })
    }

    /// Reads a `u16`-length-prefixed byte string.
    pub(crate) fn vec_u16(&mut self, field: &'static str) -> Result<&'a [u8], ParseError> {
        let len = self.u16(field)?;
        self.take(field, usize::from(len))
    }

    /// Ends the read: every byte must have been consumed.
    pub(crate) fn finish(self) -> Result<(), ParseError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(ParseError::TrailingBytes {
                structure: self.structure,
                count,
                offset: self.offset(),
            }),
        }
    }

    /// Builds an [`ParseError::InvalidConstant`] for a field read at `offset`.
    pub(crate) fn invalid_constant(
        &self,
        field: &'static str,
        offset: usize,
        actual: &[u8],
        expected: &[u8],
    ) -> ParseError {
        ParseError::InvalidConstant {
            structure: self.structure,
            field,
            offset,
            actual: hex(actual),
            expected: hex(expected),
        }
    }

    /// Builds an [`ParseError::InvalidLength`] for a field read at `offset`.
    pub(crate) fn invalid_length(
        &self,
        field: &'static str,
        offset: usize,
        value: u64,
        reason: String,
    ) -> ParseError {
        ParseError::InvalidLength {
            structure: self.structure,
            field,
            offset,
            value,
            reason,
        }
    }
}

/// Sequential writer into a fixed-size buffer; mirrors [`Reader`] so encode and parse read alike.
///
/// Every structure's `encode` writes exactly its constant size; the round-trip tests of each
/// structure prove that, so an overrun here is a bug in this crate, not bad input.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// Starts writing at the beginning of `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Appends `bytes`.
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// Skips `n` bytes, leaving them as they are (zero in a fresh buffer).
    pub(crate) fn skip(&mut self, n: usize) {
        self.pos += n;
    }

    /// Asserts (in debug builds) that the whole buffer was written.
    pub(crate) fn finish(self) {
        debug_assert_eq!(self.pos, self.buf.len(), "encoder wrote a short structure");
    }
}

/// Lower-case hex, for error messages and `Debug` output.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reads_little_endian_and_tracks_offsets() {
        let buf = [1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 9];
        let mut r = Reader::new("test", &buf);
        assert_eq!(r.u16("a").unwrap(), 1);
        assert_eq!(r.u32("b").unwrap(), 2);
        assert_eq!(r.u64("c").unwrap(), 3);
        assert_eq!(r.offset(), 14);
        let err = r.u16("d").unwrap_err();
        assert_eq!(
            err.to_string(),
            "test truncated at d (offset 14): need 2 bytes, 1 left"
        );
        assert_eq!(r.u8("e").unwrap(), 9);
        r.finish().unwrap();
    }

    #[test]
    fn sub_reader_is_bounded_and_reports_outer_offsets() {
        let buf = [0xaa, 3, 0, 1, 2, 3, 0xbb];
        let mut r = Reader::new("outer", &buf);
        r.u8("tag").unwrap();
        let len = r.u16("len").unwrap();
        let mut sub = r.sub("inner", "body", usize::from(len)).unwrap();
        assert_eq!(sub.take("x", 2).unwrap(), &[1, 2]);
        let err = sub.take("y", 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "inner truncated at y (offset 5): need 2 bytes, 1 left"
        );
        let err = sub.finish().unwrap_err();
        assert_eq!(err.to_string(), "inner has 1 trailing bytes at offset 5");
        assert_eq!(r.u8("z").unwrap(), 0xbb);
    }

    #[test]
    fn zeros_rejects_non_zero_reserved_bytes() {
        let mut r = Reader::new("secs", &[0, 0, 1]);
        let err = r.zeros::<3>("reserved").unwrap_err();
        assert_eq!(
            err.to_string(),
            "secs reserved bytes reserved (offset 0) are not zero"
        );
    }

    #[test]
    fn check_len_names_structure_and_sizes() {
        let err = check_len("sigstruct", &[0; 1000], 1808).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sigstruct too short: 1000 bytes, expected 1808"
        );
        let err = check_len("sigstruct", &[0; 1809], 1808).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sigstruct too long: 1809 bytes, expected 1808"
        );
    }
}
