//! The enclave handover: how a pre-initialised sim enclave, prepared ahead of time by the
//! enclave pool manager (`epm`), reaches `pal_init` through `pal_attr_v3_t.fd` and `.addr`.
//!
//! What a "pre-initialised enclave" is for the software TEE: the work of a launch that grows
//! with the image, done in advance. The image was verified (SIGSTRUCT over the manifest,
//! MRENCLAVE recomputed), every trusted file was hashed and matched the manifest, and the
//! entrypoint's verified bytes sit in a sealed memfd ready to be executed. No process is
//! started ahead: the workload has to begin life inside the container's namespaces and
//! cgroups, and a process cannot join a PID namespace after the fact.
//!
//! # Wire format (`rune-sim-handover/1`)
//!
//! `pal_attr_v3_t.addr` is [`HANDOVER_ADDR`] and `.fd` is one end of an `AF_UNIX`
//! `SOCK_SEQPACKET` socket pair holding exactly one message, already written when the fd is
//! handed on (so the writer may be gone by the time `pal_init` reads it):
//!
//! - payload: the 8 bytes [`MAGIC`];
//! - `SCM_RIGHTS`: two memfds, both sealed against writes, growth and shrinking
//!   (`F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL`):
//!   1. the header, UTF-8 JSON of [`Header`] (at most [`MAX_HEADER_SIZE`] bytes), unknown
//!      fields refused;
//!   2. the entrypoint's bytes, whose SHA-256 the manifest records.
//!
//! The header names the enclave's MRENCLAVE and MRSIGNER (`pal_init` refuses a handover
//! whose identity differs from the image it was given) and, per trusted file, the digest and
//! the file's identity as `fstat(2)` saw it when the digest was taken ([`FileIdentity`]: device,
//! inode, size, mode, mtime and ctime to the nanosecond). At `pal_create_process` a trusted
//! file whose identity is unchanged is not hashed again; any other is hashed as without a
//! handover. ctime cannot be set from user space, so a file changed after it was measured
//! never matches its record.
//!
//! The helpers [`send_fds`] and [`recv_fds`] (one `SEQPACKET` message with descriptors) are
//! also what `epm` and `rune` speak on epm's socket.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, UnixAddr,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::manifest::Sha256Digest;
use crate::measure::ImageDigest;

/// The `pal_attr_v3_t.addr` value that marks a `rune-sim-handover/1` fd ("EPM1").
pub const HANDOVER_ADDR: u64 = 0x4550_4d31;
/// The payload of the handover message.
pub const MAGIC: [u8; 8] = *b"EPMSIM1\0";
/// The header's `format` value.
pub const FORMAT: &str = "rune-sim-handover/1";
/// Largest header accepted: a manifest is at most 1 MiB, and a file record is a few times
/// the size of its manifest entry.
pub const MAX_HEADER_SIZE: u64 = 4 << 20;
/// The seals every handed-over memfd carries.
pub const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);
/// The most descriptors one message may carry (the kernel's `SCM_MAX_FD`). Receive buffers
/// have room for all of them, so the kernel never truncates the control data and installs
/// descriptors we are not told about.
const SCM_MAX_FD: usize = 253;

/// Why a handover could not be made or read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HandoverError {
    /// A system call on the handover socket or a memfd failed.
    #[error("{step}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `pal_attr_v3_t.addr` is not [`HANDOVER_ADDR`].
    #[error(
        "handover addr {addr:#x} is not the sim handover format (expected {HANDOVER_ADDR:#x})"
    )]
    Addr {
        /// The value given.
        addr: u64,
    },
    /// The message is not a sim handover.
    #[error("handover message is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// A memfd is not sealed as required.
    #[error("handover {what} memfd is not sealed against writes (seals {seals:#x})")]
    NotSealed {
        /// Which memfd.
        what: &'static str,
        /// The seals it has.
        seals: i32,
    },
    /// The header does not parse.
    #[error("handover header is not valid: {reason}")]
    Header {
        /// serde_json's description.
        reason: String,
    },
}

fn io_err(step: &'static str) -> impl FnOnce(io::Error) -> HandoverError {
    move |source| HandoverError::Io { step, source }
}

/// What `fstat(2)` says about a file, compared to decide that a file is unchanged since its
/// digest was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIdentity {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_mode`.
    pub mode: u32,
    /// `st_mtim` seconds.
    pub mtime: i64,
    /// `st_mtim` nanoseconds.
    pub mtime_nsec: i64,
    /// `st_ctim` seconds.
    pub ctime: i64,
    /// `st_ctim` nanoseconds.
    pub ctime_nsec: i64,
}

impl FileIdentity {
    /// The identity of an open file.
    pub fn of(file: &File) -> io::Result<Self> {
        let meta = file.metadata()?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mode: meta.mode(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        })
    }
}

/// One trusted file as measured for the handover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// In-root path, as in the manifest.
    pub path: String,
    /// SHA-256 of the content.
    pub sha256: Sha256Digest,
    /// The file's identity when it was hashed (or found in the measurement cache).
    pub identity: FileIdentity,
}

/// The handover header (JSON in the first memfd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// Always `sim`.
    pub tee: String,
    /// MRENCLAVE of the image the enclave was built from.
    pub mr_enclave: Sha256Digest,
    /// MRSIGNER of the image's SIGSTRUCT.
    pub mr_signer: Sha256Digest,
    /// The tenant the enclave was built for (informational: epm enforces the namespace).
    pub tenant: String,
    /// In-root path of the entrypoint (the second memfd's content).
    pub entrypoint: String,
    /// The trusted files, as measured in the rootfs of the container the enclave is for.
    pub files: Vec<FileRecord>,
    /// The digest of the manifest and SIGSTRUCT bytes epm verified (signature, measurement)
    /// for this enclave: `pal_init` does not verify an image of the same bytes again. Absent
    /// (an older epm), the image is verified in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_image: Option<ImageDigest>,
}

impl Header {
    /// Parses a header, refusing unknown fields, another format or another TEE.
    pub fn parse(bytes: &[u8]) -> Result<Self, HandoverError> {
        let header: Self = serde_json::from_slice(bytes).map_err(|e| HandoverError::Header {
            reason: e.to_string(),
        })?;
        if header.format != FORMAT {
            return Err(HandoverError::Header {
                reason: format!("format {:?}, expected {FORMAT:?}", header.format),
            });
        }
        if header.tee != crate::manifest::TEE {
            return Err(HandoverError::Header {
                reason: format!("tee {:?}, expected \"sim\"", header.tee),
            });
        }
        Ok(header)
    }
}

/// A received handover: the header and the entrypoint's sealed bytes.
#[derive(Debug)]
pub struct Package {
    /// The header.
    pub header: Header,
    /// Sealed memfd with the entrypoint's verified bytes.
    pub entrypoint: OwnedFd,
}

/// Creates a sealed memfd named `name` holding what `fill` writes into it.
pub fn sealed_memfd<T>(
    name: &std::ffi::CStr,
    fill: impl FnOnce(&mut File) -> io::Result<T>,
) -> io::Result<(OwnedFd, T)> {
    let fd = memfd_create(
        name,
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(io::Error::from)?;
    let mut file = File::from(fd);
    let out = fill(&mut file)?;
    file.flush()?;
    fcntl(file.as_raw_fd(), FcntlArg::F_ADD_SEALS(SEALS)).map_err(io::Error::from)?;
    Ok((OwnedFd::from(file), out))
}

/// Checks that `fd` carries every seal in [`SEALS`].
pub fn check_sealed(fd: BorrowedFd<'_>, what: &'static str) -> Result<(), HandoverError> {
    let seals = fcntl(fd.as_raw_fd(), FcntlArg::F_GET_SEALS)
        .map_err(|e| io_err("reading memfd seals")(io::Error::from(e)))?;
    if SealFlag::from_bits_truncate(seals).contains(SEALS) {
        Ok(())
    } else {
        Err(HandoverError::NotSealed { what, seals })
    }
}

/// Writes a handover into a new socket pair and returns the end to give to `pal_init`.
/// `entrypoint` must be sealed; it is duplicated into the message, not consumed.
pub fn package(header: &Header, entrypoint: BorrowedFd<'_>) -> Result<OwnedFd, HandoverError> {
    check_sealed(entrypoint, "entrypoint")?;
    let json = serde_json::to_vec(header).map_err(|e| HandoverError::Header {
        reason: e.to_string(),
    })?;
    let (header_fd, ()) = sealed_memfd(c"rune-sim-handover-header", |f| f.write_all(&json))
        .map_err(io_err("writing the handover header memfd"))?;
    let (rx, tx) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| io_err("creating the handover socket pair")(io::Error::from(e)))?;
    send_fds(tx.as_fd(), &MAGIC, &[header_fd.as_fd(), entrypoint])
        .map_err(io_err("writing the handover message"))?;
    // Dropping `tx` now means the reader sees the one message, then end of file.
    Ok(rx)
}

/// Reads the handover at `fd` (`pal_init`'s side): checks `addr`, the magic, the descriptors
/// and their seals, and parses the header.
pub fn receive(fd: BorrowedFd<'_>, addr: u64) -> Result<Package, HandoverError> {
    if addr != HANDOVER_ADDR {
        return Err(HandoverError::Addr { addr });
    }
    let (payload, fds) =
        recv_fds(fd, MAGIC.len() + 1).map_err(io_err("reading the handover message"))?;
    if payload != MAGIC {
        return Err(HandoverError::Malformed {
            reason: format!(
                "payload is {} bytes, not the sim handover magic",
                payload.len()
            ),
        });
    }
    let [header_fd, entrypoint]: [OwnedFd; 2] =
        fds.try_into()
            .map_err(|fds: Vec<OwnedFd>| HandoverError::Malformed {
                reason: format!("{} descriptors, expected 2", fds.len()),
            })?;
    check_sealed(header_fd.as_fd(), "header")?;
    check_sealed(entrypoint.as_fd(), "entrypoint")?;
    let mut bytes = Vec::new();
    let file = File::from(header_fd);
    let size = file
        .metadata()
        .map_err(io_err("reading the handover header size"))?
        .len();
    if size > MAX_HEADER_SIZE {
        return Err(HandoverError::Malformed {
            reason: format!("header is {size} bytes, more than {MAX_HEADER_SIZE}"),
        });
    }
    // The writer's file offset is shared with us (same open file description): read by
    // position from the start.
    read_all_at(&file, &mut bytes, MAX_HEADER_SIZE)
        .map_err(io_err("reading the handover header"))?;
    let header = Header::parse(&bytes)?;
    Ok(Package { header, entrypoint })
}

/// Reads `file` from offset 0 to its end, at most `max` bytes, by position (a memfd's offset
/// is shared with whoever wrote it).
pub fn read_all_at(file: &File, out: &mut Vec<u8>, max: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    // Sized from fstat: a header of a few hundred bytes must not cost a process the page
    // faults of a 64 KiB buffer (a sealed memfd cannot change size; for other files the loop
    // reads whatever is there).
    let expected = file.metadata().map_or(0, |m| m.len()).min(max);
    let chunk_len = usize::try_from(expected)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
        .min(64 * 1024);
    let mut chunk = vec![0u8; chunk_len];
    let mut offset: u64 = 0;
    loop {
        let n = match file.read_at(&mut chunk, offset) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        offset = offset.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if offset > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than {max} bytes"),
            ));
        }
        out.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// Sends one `SOCK_SEQPACKET` message: `payload` with `fds` attached (`SCM_RIGHTS`).
pub fn send_fds(socket: BorrowedFd<'_>, payload: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let raw: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let cmsgs: Vec<ControlMessage<'_>> = if raw.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(&raw)]
    };
    let sent = sendmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &[IoSlice::new(payload)],
        &cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(io::Error::from)?;
    if sent != payload.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("sent {sent} of {} bytes", payload.len()),
        ));
    }
    Ok(())
}

/// Receives one `SOCK_SEQPACKET` message of at most `max_len` bytes and the descriptors sent
/// with it (close-on-exec). A longer message is an error (its descriptors are closed); end of
/// file is `UnexpectedEof`.
pub fn recv_fds(socket: BorrowedFd<'_>, max_len: usize) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    // The buffer is the message's size (a SEQPACKET socket tells it to a peek with MSG_TRUNC)
    // rather than the largest allowed: a 64 KiB buffer cost the container's init 16 page
    // faults for an answer of a few hundred bytes.
    let pending = loop {
        match nix::sys::socket::recv(
            socket.as_raw_fd(),
            &mut [],
            MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(io::Error::from)?,
        }
    };
    let mut buffer = vec![0u8; pending.min(max_len).saturating_add(1)];
    let mut cmsg_space = nix::cmsg_space!([i32; SCM_MAX_FD]);
    let (len, raw_fds, truncated) = {
        let mut iov = [IoSliceMut::new(&mut buffer)];
        let message = loop {
            match recvmsg::<UnixAddr>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.map_err(io::Error::from)?,
            }
        };
        let mut raw_fds = Vec::new();
        let cmsgs = message.cmsgs().map_err(io::Error::from)?;
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                raw_fds.extend(fds);
            }
        }
        (
            message.bytes,
            raw_fds,
            message.flags.contains(MsgFlags::MSG_TRUNC),
        )
    };
    // Own every received descriptor first, so an error below closes them.
    let fds = crate::ffi::sys::adopt_received(raw_fds);
    if truncated || len > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message longer than {max_len} bytes"),
        ));
    }
    if len == 0 && fds.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "peer closed the socket before sending a message",
        ));
    }
    buffer.truncate(len);
    Ok((buffer, fds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> Header {
        Header {
            format: FORMAT.to_owned(),
            tee: "sim".to_owned(),
            mr_enclave: Sha256Digest([1; 32]),
            mr_signer: Sha256Digest([2; 32]),
            tenant: "host".to_owned(),
            entrypoint: "/bin/busybox".to_owned(),
            files: vec![FileRecord {
                path: "/bin/busybox".to_owned(),
                sha256: Sha256Digest([3; 32]),
                identity: FileIdentity {
                    dev: 1,
                    ino: 2,
                    size: 3,
                    mode: 0o100755,
                    mtime: 4,
                    mtime_nsec: 5,
                    ctime: 6,
                    ctime_nsec: 7,
                },
            }],
            verified_image: Some(ImageDigest::of(b"manifest", b"sigstruct")),
        }
    }

    #[test]
    fn package_round_trips_and_outlives_its_writer() {
        let (entry, ()) = sealed_memfd(c"t", |f| f.write_all(b"\x7fELF program")).unwrap();
        let fd = package(&header(), entry.as_fd()).unwrap();
        drop(entry);
        let got = receive(fd.as_fd(), HANDOVER_ADDR).unwrap();
        assert_eq!(got.header, header());
        let mut bytes = Vec::new();
        read_all_at(&File::from(got.entrypoint), &mut bytes, 1024).unwrap();
        assert_eq!(bytes, b"\x7fELF program");
        // Used once: the one message is gone.
        let err = receive(fd.as_fd(), HANDOVER_ADDR).unwrap_err();
        assert!(
            err.to_string().starts_with("reading the handover message"),
            "{err}"
        );
    }

    #[test]
    fn unsealed_entrypoint_and_wrong_addr_are_refused() {
        let fd = memfd_create(c"u", MemFdCreateFlag::MFD_CLOEXEC).unwrap();
        assert_eq!(
            package(&header(), fd.as_fd()).unwrap_err().to_string(),
            "handover entrypoint memfd is not sealed against writes (seals 0x1)"
        );
        let (entry, ()) = sealed_memfd(c"t", |f| f.write_all(b"x")).unwrap();
        let fd = package(&header(), entry.as_fd()).unwrap();
        assert_eq!(
            receive(fd.as_fd(), 0x1000).unwrap_err().to_string(),
            "handover addr 0x1000 is not the sim handover format (expected 0x45504d31)"
        );
    }

    fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap()
    }

    #[test]
    fn foreign_messages_are_refused_and_their_fds_closed() {
        let (rx, tx) = seqpacket_pair();
        let (a, ()) = sealed_memfd(c"a", |f| f.write_all(b"{}")).unwrap();
        send_fds(tx.as_fd(), &MAGIC, &[a.as_fd()]).unwrap();
        let err = receive(rx.as_fd(), HANDOVER_ADDR).unwrap_err();
        assert_eq!(
            err.to_string(),
            "handover message is malformed: 1 descriptors, expected 2"
        );
        send_fds(tx.as_fd(), b"too long for the buffer", &[]).unwrap();
        assert!(recv_fds(rx.as_fd(), 4).is_err());
        drop(tx);
        let err = recv_fds(rx.as_fd(), 4).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_message_is_received_whole_up_to_the_limit_and_refused_beyond() {
        let (rx, tx) = seqpacket_pair();
        let (a, ()) = sealed_memfd(c"a", |f| f.write_all(b"{}")).unwrap();
        for len in [1, 100, 4096, 5000] {
            let payload: Vec<u8> = (0..len).map(|i: u32| (i % 251).to_le_bytes()[0]).collect();
            send_fds(tx.as_fd(), &payload, &[a.as_fd()]).unwrap();
            let (got, fds) = recv_fds(rx.as_fd(), 5000).unwrap();
            assert_eq!((got, fds.len()), (payload, 1));
        }
        send_fds(tx.as_fd(), &[7; 5001], &[a.as_fd()]).unwrap();
        let err = recv_fds(rx.as_fd(), 5000).unwrap_err();
        assert_eq!(err.to_string(), "message longer than 5000 bytes");
    }

    #[test]
    fn header_refuses_unknown_fields_and_other_formats() {
        let mut value = serde_json::to_value(header()).unwrap();
        value["extra"] = serde_json::json!(1);
        assert!(Header::parse(value.to_string().as_bytes()).is_err());
        let mut other = header();
        other.format = "rune-sim-handover/2".to_owned();
        assert!(Header::parse(&serde_json::to_vec(&other).unwrap())
            .unwrap_err()
            .to_string()
            .contains("format"));
        let mut tdx = header();
        tdx.tee = "tdx".to_owned();
        assert!(Header::parse(&serde_json::to_vec(&tdx).unwrap()).is_err());
    }

    #[test]
    fn a_header_without_the_verified_image_parses_without_it() {
        let mut value = serde_json::to_value(header()).unwrap();
        value.as_object_mut().unwrap().remove("verified_image");
        let parsed = Header::parse(value.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.verified_image, None);
        assert_eq!(parsed.files, header().files);
    }

    proptest! {
        #[test]
        fn header_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Header::parse(&bytes);
        }

        #[test]
        fn header_round_trips(ino in any::<u64>(), size in any::<u64>(), ctime in any::<i64>(),
                              path in "/[a-z]{1,12}", tenant in "[a-z0-9:]{1,20}") {
            let mut h = header();
            h.tenant = tenant;
            h.files[0].path = path;
            h.files[0].identity.ino = ino;
            h.files[0].identity.size = size;
            h.files[0].identity.ctime = ctime;
            let parsed = Header::parse(&serde_json::to_vec(&h).unwrap()).unwrap();
            prop_assert_eq!(parsed, h);
        }
    }
}
