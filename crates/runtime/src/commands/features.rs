//! `rune features`: what this runtime supports, in the OCI features format.

use anyhow::Result;

/// Prints the OCI runtime features document.
pub fn features() -> Result<i32> {
    let doc = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "bind", "rbind", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
            "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable",
            "relatime", "norelatime", "strictatime", "nostrictatime", "noatime", "atime", "sync", "async",
            "dirsync", "remount", "mand", "nomand", "tmpcopyup", "rro", "rrw"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true},
            "seccomp": {"enabled": true},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
        },
        "annotations": {
            "io.github.rune.enclave.types": "intelSgx,sim",
        },
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}
