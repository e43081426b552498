//! `rune check`: is this node ready for (enclave) containers? One line per probe, OK / WARN /
//! FAIL, with a one-line hint on how to fix what is not OK; exits 1 when any probe fails.
//!
//! FAIL means something rune or a configured component needs is broken (no cgroup filesystem,
//! no seccomp, a configured PAL that does not load, an unreadable config). WARN means a feature
//! is unavailable or degraded but ordinary containers run (no SGX, epm down). Probes read the
//! host through [`Host`], whose root tests point at a temporary tree.

use std::fmt;
use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::cli::{Check, TextOrJson};
use crate::config::{NodeConfig, DEFAULT_EPM_SOCKET};
use crate::enclave::{AESMD_DIR, SGX_DEVICES};

/// How long a reachability probe waits for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The verdict of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Ready.
    Ok,
    /// Unavailable or degraded; ordinary containers still run.
    Warn,
    /// Broken: something rune or a configured component needs.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ok => "OK",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        })
    }
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was probed.
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it (empty when OK).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
}

impl Finding {
    fn new(name: &str, status: Status, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            status,
            detail: detail.into(),
            hint: hint.into(),
        }
    }

    fn ok(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail, "")
    }
}

/// The host as the probes see it: `/` in rune, a temporary tree in tests.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    /// The real host.
    pub fn real() -> Self {
        Self {
            root: PathBuf::from("/"),
        }
    }

    /// A host whose `/` is `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `path` (absolute, as on the host) under this host's root.
    fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.path(path)).ok()
    }

    fn exists(&self, path: &str) -> bool {
        self.path(path).exists()
    }
}

/// Runs `rune check`.
pub fn check(args: &Check) -> Result<i32> {
    let findings = run_all(&Host::real(), &args.config);
    match args.format {
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
        TextOrJson::Text => print!("{}", render(&findings)),
    }
    Ok(if findings.iter().any(|f| f.status == Status::Fail) {
        1
    } else {
        0
    })
}

/// Every probe, in the order they print. `config` is a host path (not under `host`'s root).
pub fn run_all(host: &Host, config: &Path) -> Vec<Finding> {
    let mut findings = vec![
        cgroups(host),
        seccomp(host),
        user_namespaces(host),
        sgx(host),
        tdx(host),
        snp(host),
        configfs_tsm(host),
        aesmd(host),
        sim_platform(host),
    ];
    let (finding, node) = node_config(config);
    findings.push(finding);
    let node = node.unwrap_or_default();
    findings.extend(pals(&node));
    findings.push(epm(host, &node));
    findings.push(verdictd(&node));
    findings
}

/// The text report: `STATUS name: detail`, a `hint:` line under anything not OK, a summary.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    let width = findings.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in findings {
        out.push_str(&format!(
            "{:<4}  {:<width$}  {}\n",
            f.status.to_string(),
            f.name,
            f.detail
        ));
        if !f.hint.is_empty() {
            out.push_str(&format!("{:<4}  {:<width$}  hint: {}\n", "", "", f.hint));
        }
    }
    let count = |s| findings.iter().filter(|f| f.status == s).count();
    out.push_str(&format!(
        "rune check: {} ok, {} warn, {} fail\n",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    ));
    out
}

/// cgroup v1, v2 or the hybrid of both, and which controllers each offers.
pub fn cgroups(host: &Host) -> Finding {
    const NAME: &str = "cgroups";
    const NEEDED: [&str; 3] = ["memory", "pids", "cpu"];
    let v2_controllers = |dir: &str| {
        host.read(&format!("{dir}/cgroup.controllers"))
            .map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    };
    if let Some(v2) = v2_controllers("/sys/fs/cgroup") {
        let missing: Vec<&str> = NEEDED
            .into_iter()
            .filter(|c| !v2.iter().any(|have| have == c))
            .collect();
        let detail = format!("unified (v2): {}", list_or_none(&v2));
        if missing.is_empty() {
            return Finding::ok(NAME, detail);
        }
        return Finding::new(
            NAME,
            Status::Warn,
            detail,
            format!(
                "controllers {} are not enabled: limits on them fail; enable them in the root cgroup.subtree_control",
                missing.join(", ")
            ),
        );
    }
    let mut v1: Vec<String> = std::fs::read_dir(host.path("/sys/fs/cgroup"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                // `unified` is the v2 mount of a hybrid; `systemd` is a named hierarchy without
                // a controller.
                .filter(|n| n != "unified" && n != "systemd")
                .filter(|n| host.exists(&format!("/sys/fs/cgroup/{n}/tasks")))
                .collect()
        })
        .unwrap_or_default();
    v1.sort();
    if v1.is_empty() {
        return Finding::new(
            NAME,
            Status::Fail,
            "no cgroup filesystem under /sys/fs/cgroup",
            "mount cgroup2 on /sys/fs/cgroup (or the v1 hierarchies): rune cannot create containers without cgroups",
        );
    }
    let missing: Vec<&str> = NEEDED
        .into_iter()
        .filter(|c| !v1.iter().any(|have| have == c))
        .collect();
    let (layout, hint) = match v2_controllers("/sys/fs/cgroup/unified") {
        Some(v2) => (
            format!("hybrid: v1 {}; v2 {}", v1.join(","), list_or_none(&v2)),
            if v2.iter().all(|c| c == "hugetlb") && !v2.is_empty() {
                "hugetlb sits on v2 only, beside v1 for the rest: hugetlb limits fail for every runtime"
            } else {
                ""
            },
        ),
        None => (format!("legacy (v1): {}", v1.join(",")), ""),
    };
    if !missing.is_empty() {
        return Finding::new(
            NAME,
            Status::Warn,
            layout,
            format!(
                "v1 controllers {} are not mounted: limits on them fail",
                missing.join(", ")
            ),
        );
    }
    if hint.is_empty() {
        Finding::ok(NAME, layout)
    } else {
        Finding::new(NAME, Status::Warn, layout, hint)
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(no controllers)".to_owned()
    } else {
        items.join(",")
    }
}

/// Kernel seccomp filter support, which Docker's and containerd's default profiles need.
pub fn seccomp(host: &Host) -> Finding {
    const NAME: &str = "seccomp";
    let in_status = host
        .read("/proc/self/status")
        .is_some_and(|s| s.lines().any(|l| l.starts_with("Seccomp:")));
    match host.read("/proc/sys/kernel/seccomp/actions_avail") {
        Some(actions) if in_status => Finding::ok(
            NAME,
            format!("filters supported (actions: {})", actions.trim()),
        ),
        _ => Finding::new(
            NAME,
            Status::Fail,
            "the kernel has no seccomp filter support",
            "build the kernel with CONFIG_SECCOMP_FILTER: specs with linux.seccomp (Docker's and containerd's default) fail",
        ),
    }
}

/// User namespaces, for rootless containers and specs with a user namespace.
pub fn user_namespaces(host: &Host) -> Finding {
    const NAME: &str = "user namespaces";
    let max = host
        .read("/proc/sys/user/max_user_namespaces")
        .and_then(|s| s.trim().parse::<u64>().ok());
    let unprivileged = host
        .read("/proc/sys/kernel/unprivileged_userns_clone")
        .map(|s| s.trim() != "0");
    match max {
        None => Finding::new(
            NAME,
            Status::Warn,
            "not supported by the kernel",
            "build the kernel with CONFIG_USER_NS: rootless containers and specs with a user namespace fail",
        ),
        Some(0) => Finding::new(
            NAME,
            Status::Warn,
            "disabled (user.max_user_namespaces = 0)",
            "sysctl -w user.max_user_namespaces=15000: rootless containers and specs with a user namespace fail",
        ),
        Some(n) if unprivileged == Some(false) => Finding::new(
            NAME,
            Status::Warn,
            format!("root only (max {n}; kernel.unprivileged_userns_clone = 0)"),
            "sysctl -w kernel.unprivileged_userns_clone=1 for rootless rune; containers started by root are fine",
        ),
        Some(n) => Finding::ok(NAME, format!("available (max {n})")),
    }
}

/// The in-kernel SGX driver's device nodes (`ENCLAVE_TYPE=intelSgx`).
pub fn sgx(host: &Host) -> Finding {
    const NAME: &str = "sgx";
    let missing: Vec<&str> = SGX_DEVICES
        .iter()
        .copied()
        .filter(|d| !host.exists(d))
        .collect();
    if missing.is_empty() {
        return Finding::ok(NAME, format!("{} present", SGX_DEVICES.join(", ")));
    }
    let hint = "ENCLAVE_TYPE=intelSgx containers fail here (Linux >= 5.11 on SGX hardware gives these nodes); ENCLAVE_TYPE=sim, the software TEE, works";
    if missing.len() == SGX_DEVICES.len() {
        Finding::new(NAME, Status::Warn, "no SGX device nodes", hint)
    } else {
        Finding::new(
            NAME,
            Status::Warn,
            format!("missing {}", missing.join(", ")),
            hint,
        )
    }
}

/// A TDX guest's device node.
pub fn tdx(host: &Host) -> Finding {
    device_probe(
        host,
        "tdx",
        "/dev/tdx_guest",
        "not a TDX guest: TDX evidence is unavailable (needed only inside a TDX confidential VM)",
    )
}

/// An SEV-SNP guest's device node.
pub fn snp(host: &Host) -> Finding {
    device_probe(
        host,
        "snp",
        "/dev/sev-guest",
        "not an SEV-SNP guest: SNP evidence is unavailable (needed only inside an SNP confidential VM)",
    )
}

fn device_probe(host: &Host, name: &str, device: &str, hint: &str) -> Finding {
    if host.exists(device) {
        Finding::ok(name, format!("{device} present"))
    } else {
        Finding::new(name, Status::Warn, format!("no {device}"), hint)
    }
}

/// configfs-tsm, the kernel's TEE-neutral report interface (Linux >= 6.7) for TDX/SNP quotes.
pub fn configfs_tsm(host: &Host) -> Finding {
    const NAME: &str = "configfs-tsm";
    const REPORT: &str = "/sys/kernel/config/tsm/report";
    if host.exists(REPORT) {
        Finding::ok(NAME, format!("{REPORT} present"))
    } else if host.exists("/sys/kernel/config") {
        Finding::new(
            NAME,
            Status::Warn,
            format!("no {REPORT}"),
            "no TSM report provider (Linux >= 6.7 in a TDX or SNP guest): TDX/SNP quotes through configfs-tsm are unavailable",
        )
    } else {
        Finding::new(
            NAME,
            Status::Warn,
            "configfs is not mounted",
            "mount -t configfs none /sys/kernel/config (needed only for TDX/SNP quotes)",
        )
    }
}

/// The SGX architectural enclave service manager, which SGX quoting goes through.
pub fn aesmd(host: &Host) -> Finding {
    const NAME: &str = "aesmd";
    let socket = format!("{AESMD_DIR}/aesm.socket");
    let path = host.path(&socket);
    let sgx_present = SGX_DEVICES.iter().all(|d| host.exists(d));
    match UnixStream::connect(&path) {
        Ok(_) => Finding::ok(NAME, format!("{socket} answers")),
        Err(e) if e.kind() == ErrorKind::NotFound && !sgx_present => Finding::new(
            NAME,
            Status::Warn,
            format!("no {socket}"),
            "needed only for intelSgx quotes: install Intel's sgx-aesm-service on SGX hosts",
        ),
        Err(e) => Finding::new(
            NAME,
            Status::Warn,
            format!("{socket}: {e}"),
            "start aesmd (systemctl start aesmd): SGX containers start but cannot produce quotes",
        ),
    }
}

/// The software TEE's per-host secrets directory.
pub fn sim_platform(host: &Host) -> Finding {
    const NAME: &str = "sim platform";
    let dir = crate::commands::attest::sim_platform_dir();
    let path = host.path(&dir);
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Finding::ok(
            NAME,
            format!(
                "{} will be created on first use (sim: no confidentiality against root)",
                dir.display()
            ),
        ),
        Err(e) => Finding::new(
            NAME,
            Status::Fail,
            format!("{}: {e}", dir.display()),
            "the software TEE keeps its platform secret there: fix its permissions",
        ),
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => Finding::new(
            NAME,
            Status::Fail,
            format!(
                "{} has mode {:o}: others can read the platform secret",
                dir.display(),
                meta.permissions().mode() & 0o7777
            ),
            format!(
                "chmod 0700 {}, then delete it to re-create the secrets (old sim quotes and sealed data stop verifying)",
                dir.display()
            ),
        ),
        Ok(_) => Finding::ok(
            NAME,
            format!(
                "{} (root only; sim: no confidentiality against root)",
                dir.display()
            ),
        ),
    }
}

/// The node configuration file.
pub fn node_config(path: &Path) -> (Finding, Option<NodeConfig>) {
    const NAME: &str = "config";
    match NodeConfig::load(path) {
        Ok(Some(config)) => (Finding::ok(NAME, path.display().to_string()), Some(config)),
        Ok(None) => (
            Finding::new(
                NAME,
                Status::Warn,
                format!("no {}", path.display()),
                "no enclave runtimes configured to check; the rune package installs one (see docs/configuration.md)",
            ),
            None,
        ),
        Err(e) => (
            Finding::new(
                NAME,
                Status::Fail,
                error_chain(&e),
                "fix the file (docs/configuration.md lists every key)",
            ),
            None,
        ),
    }
}

/// Each configured enclave runtime: it exists and loads as a PAL.
pub fn pals(config: &NodeConfig) -> Vec<Finding> {
    config
        .enclave_runtime
        .iter()
        .map(|(name, entry)| {
            let label = format!("pal {name}");
            match pal::EnclaveRuntime::open(&entry.path) {
                Ok(runtime) => Finding::ok(
                    &label,
                    format!(
                        "{} loads (PAL API v{})",
                        entry.path.display(),
                        runtime.version()
                    ),
                ),
                Err(e) => Finding::new(
                    &label,
                    Status::Fail,
                    error_chain(&e),
                    format!(
                        "install the enclave runtime or fix enclave_runtime.{name}.path in the config"
                    ),
                ),
            }
        })
        .collect()
}

/// epm answers on its socket.
pub fn epm(host: &Host, config: &NodeConfig) -> Finding {
    const NAME: &str = "epm";
    let socket = &config.epm.socket;
    match UnixStream::connect(host.path(socket)) {
        Ok(_) => Finding::ok(NAME, format!("{} answers", socket.display())),
        Err(e) => Finding::new(
            NAME,
            Status::Warn,
            format!("epm not running: {}: {e}", socket.display()),
            if socket == Path::new(DEFAULT_EPM_SOCKET) {
                "enclave starts are slower; start epm.service".to_owned()
            } else {
                "enclave starts are slower; start epm.service (or fix epm.socket in the config)"
                    .to_owned()
            },
        ),
    }
}

/// verdictd accepts TCP connections at its configured address.
pub fn verdictd(config: &NodeConfig) -> Finding {
    const NAME: &str = "verdictd";
    let Some(verdictd) = &config.verdictd else {
        return Finding::new(
            NAME,
            Status::Warn,
            "verdictd.url not configured",
            "set [verdictd] url in the config to check the key broker enclave containers fetch ENCLAVE_SECRETS from",
        );
    };
    let url = &verdictd.url;
    let addr = match authority(url) {
        Ok(addr) => addr,
        Err(reason) => {
            return Finding::new(
                NAME,
                Status::Fail,
                format!("invalid verdictd.url {url:?}: {reason}"),
                "use http(s)://HOST:PORT",
            )
        }
    };
    let reachable = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut addrs| {
            let mut last = "no address".to_owned();
            addrs
                .find(|a| match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
                    Ok(_) => true,
                    Err(e) => {
                        last = e.to_string();
                        false
                    }
                })
                .ok_or(last)
        });
    match reachable {
        Ok(a) => Finding::ok(NAME, format!("{url} reachable ({a})")),
        Err(e) => Finding::new(
            NAME,
            Status::Warn,
            format!("{url} unreachable: {e}"),
            "ENCLAVE_SECRETS and attestation fail until it answers: start verdictd.service or fix verdictd.url",
        ),
    }
}

/// `HOST:PORT` of an http(s) URL (default ports 80 and 443).
fn authority(url: &str) -> Result<String, &'static str> {
    let (rest, port) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, 443)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, 80)
    } else {
        return Err("expected an http:// or https:// URL");
    };
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host_port.is_empty() {
        return Err("no host");
    }
    let has_port = if host_port.starts_with('[') {
        host_port.contains("]:")
    } else {
        host_port.contains(':')
    };
    Ok(if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:{port}")
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::net::UnixListener;

    use super::*;
    use crate::config::{EnclaveRuntimeEntry, EpmConfig, VerdictdConfig};

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn cgroup_layouts() {
        let empty = tempfile::tempdir().unwrap();
        let f = cgroups(&Host::at(empty.path()));
        assert_eq!(f.status, Status::Fail);
        assert!(f.hint.contains("mount cgroup2"));

        let v2 = tempfile::tempdir().unwrap();
        write(
            v2.path(),
            "/sys/fs/cgroup/cgroup.controllers",
            "cpuset cpu io memory pids\n",
        );
        let f = cgroups(&Host::at(v2.path()));
        assert_eq!(f.status, Status::Ok, "{f:?}");
        assert_eq!(f.detail, "unified (v2): cpuset,cpu,io,memory,pids");

        write(
            v2.path(),
            "/sys/fs/cgroup/cgroup.controllers",
            "cpu io memory\n",
        );
        let f = cgroups(&Host::at(v2.path()));
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.hint.starts_with("controllers pids are not enabled"),
            "{f:?}"
        );

        let hybrid = tempfile::tempdir().unwrap();
        for c in ["cpu", "memory", "pids"] {
            write(hybrid.path(), &format!("/sys/fs/cgroup/{c}/tasks"), "");
        }
        write(
            hybrid.path(),
            "/sys/fs/cgroup/unified/cgroup.controllers",
            "hugetlb\n",
        );
        let f = cgroups(&Host::at(hybrid.path()));
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.detail, "hybrid: v1 cpu,memory,pids; v2 hugetlb");
        assert!(f.hint.contains("hugetlb limits fail"));

        std::fs::remove_dir_all(hybrid.path().join("sys/fs/cgroup/unified")).unwrap();
        let f = cgroups(&Host::at(hybrid.path()));
        assert_eq!(f, Finding::ok("cgroups", "legacy (v1): cpu,memory,pids"));
    }

    #[test]
    fn seccomp_and_user_namespaces() {
        let root = tempfile::tempdir().unwrap();
        let host = Host::at(root.path());
        assert_eq!(seccomp(&host).status, Status::Fail);
        assert_eq!(user_namespaces(&host).status, Status::Warn);
        write(root.path(), "/proc/self/status", "Name:\tx\nSeccomp:\t0\n");
        write(
            root.path(),
            "/proc/sys/kernel/seccomp/actions_avail",
            "kill_process kill_thread trap errno\n",
        );
        write(root.path(), "/proc/sys/user/max_user_namespaces", "0\n");
        assert_eq!(seccomp(&host).status, Status::Ok);
        let f = user_namespaces(&host);
        assert_eq!(f.status, Status::Warn);
        assert!(f.hint.starts_with("sysctl -w user.max_user_namespaces"));
        write(root.path(), "/proc/sys/user/max_user_namespaces", "63000\n");
        assert_eq!(
            user_namespaces(&host),
            Finding::ok("user namespaces", "available (max 63000)")
        );
    }

    #[test]
    fn tee_devices() {
        let root = tempfile::tempdir().unwrap();
        let host = Host::at(root.path());
        let f = sgx(&host);
        assert_eq!(f.status, Status::Warn);
        assert!(f.hint.contains("ENCLAVE_TYPE=sim"));
        write(root.path(), "/dev/sgx_enclave", "");
        assert_eq!(sgx(&host).detail, "missing /dev/sgx_provision");
        write(root.path(), "/dev/sgx_provision", "");
        assert_eq!(sgx(&host).status, Status::Ok);
        // With SGX present, a missing aesmd is worth a different hint.
        assert!(aesmd(&host).hint.starts_with("start aesmd"));

        assert_eq!(tdx(&host).status, Status::Warn);
        write(root.path(), "/dev/tdx_guest", "");
        assert_eq!(tdx(&host).status, Status::Ok);
        assert_eq!(snp(&host).status, Status::Warn);
        assert_eq!(configfs_tsm(&host).detail, "configfs is not mounted");
        std::fs::create_dir_all(root.path().join("sys/kernel/config/tsm/report")).unwrap();
        assert_eq!(configfs_tsm(&host).status, Status::Ok);
    }

    #[test]
    fn sockets_that_answer_are_ok() {
        let root = tempfile::tempdir().unwrap();
        let host = Host::at(root.path());
        let node = NodeConfig::default();
        let f = epm(&host, &node);
        assert_eq!(f.status, Status::Warn);
        assert!(f.detail.starts_with("epm not running"));
        assert_eq!(f.hint, "enclave starts are slower; start epm.service");
        let aesm = aesmd(&host);
        assert_eq!(aesm.status, Status::Warn);
        assert!(aesm.hint.starts_with("needed only for intelSgx"));

        let socket = host.path(DEFAULT_EPM_SOCKET);
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        let _listener = UnixListener::bind(&socket).unwrap();
        assert_eq!(epm(&host, &node).status, Status::Ok);
        let aesm_socket = host.path(format!("{AESMD_DIR}/aesm.socket"));
        std::fs::create_dir_all(aesm_socket.parent().unwrap()).unwrap();
        let _aesm = UnixListener::bind(&aesm_socket).unwrap();
        assert_eq!(aesmd(&host).status, Status::Ok);
    }

    #[test]
    fn verdictd_reachability() {
        assert_eq!(verdictd(&NodeConfig::default()).status, Status::Warn);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let with = |url: &str| NodeConfig {
            verdictd: Some(VerdictdConfig { url: url.into() }),
            ..NodeConfig::default()
        };
        let f = verdictd(&with(&format!("http://127.0.0.1:{port}/kbs/v0")));
        assert_eq!(f.status, Status::Ok, "{f:?}");
        drop(listener);
        let f = verdictd(&with(&format!("https://127.0.0.1:{port}")));
        assert_eq!(f.status, Status::Warn);
        assert!(f.hint.contains("start verdictd.service"));
        let f = verdictd(&with("127.0.0.1:8080"));
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.detail,
            "invalid verdictd.url \"127.0.0.1:8080\": expected an http:// or https:// URL"
        );
        assert_eq!(authority("https://[::1]/x").unwrap(), "[::1]:443");
        assert_eq!(authority("http://k:9/").unwrap(), "k:9");
    }

    #[test]
    fn configured_pals_must_load() {
        let dir = tempfile::tempdir().unwrap();
        let not_elf = dir.path().join("pal.so");
        std::fs::write(&not_elf, "text").unwrap();
        let config = NodeConfig {
            enclave_runtime: BTreeMap::from([
                (
                    "gone".to_owned(),
                    EnclaveRuntimeEntry {
                        path: dir.path().join("missing.so"),
                    },
                ),
                ("text".to_owned(), EnclaveRuntimeEntry { path: not_elf }),
            ]),
            epm: EpmConfig::default(),
            verdictd: None,
        };
        let findings = pals(&config);
        assert_eq!(findings.len(), 2);
        assert!(findings.iter().all(|f| f.status == Status::Fail));
        assert_eq!(findings[0].name, "pal gone");
        assert!(
            findings[0].detail.contains("does not exist"),
            "{findings:?}"
        );
        assert!(findings[1].detail.contains("not an ELF"), "{findings:?}");
        assert_eq!(
            findings[0].hint,
            "install the enclave runtime or fix enclave_runtime.gone.path in the config"
        );
    }

    #[test]
    fn config_file_problems() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let (f, node) = node_config(&path);
        assert_eq!((f.status, node), (Status::Warn, None));
        std::fs::write(&path, "[epm]\nsocket = 1\n").unwrap();
        let (f, _) = node_config(&path);
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.starts_with(&format!("parsing {}", path.display())));
    }

    #[test]
    fn report_has_hints_and_a_summary() {
        let findings = vec![
            Finding::ok("a", "fine"),
            Finding::new("long name", Status::Fail, "broken", "fix it"),
        ];
        assert_eq!(
            render(&findings),
            "OK    a          fine\n\
             FAIL  long name  broken\n      \
             \x20          hint: fix it\n\
             rune check: 1 ok, 0 warn, 1 fail\n"
        );
    }

    #[test]
    fn sim_platform_mode_is_checked() {
        let root = tempfile::tempdir().unwrap();
        let host = Host::at(root.path());
        let dir = host.path(crate::commands::attest::sim_platform_dir());
        assert_eq!(sim_platform(&host).status, Status::Ok);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = sim_platform(&host);
        assert_eq!(f.status, Status::Fail);
        assert!(f
            .detail
            .ends_with("has mode 755: others can read the platform secret"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(sim_platform(&host).status, Status::Ok);
    }
}
