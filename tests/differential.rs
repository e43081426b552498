//! Differential tests: the same bundle under rune and under runc (Debian's `runc`), comparing what
//! the container sees from the inside (DESIGN §5).
//!
//! Each case builds one busybox bundle, runs it under runc and then under rune, each on its own
//! private `--root` and with its own container id, and compares the workload's output after
//! replacing the container id with `<id>`. Workloads start with `exec 2>&1` so the container's
//! error messages land in the compared stdout while the runtimes' own stderr stays apart.
//!
//! A difference is a bug in rune unless the case documents why it is expected. Cases that show a
//! known rune bug are `#[ignore]`d with the reason, so `cargo test` stays green while the bug is
//! open; `cargo test --test differential -- --ignored` shows the difference.
//!
//! Every case needs root (namespaces, mounts, cgroups) and runc; without them it prints why it
//! skips and passes.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{json, Value};

use rune_integration_tests::{require_root, require_tool, unique_id, Bundle, Outcome, Runtime};

/// What the same bundle showed under each runtime.
#[derive(Debug)]
struct Seen {
    runc: Outcome,
    rune: Outcome,
}

impl Seen {
    /// Panics, naming `what` and showing both sides, unless the workload's stdout is the same.
    fn assert_same_stdout(&self, what: &str) {
        assert_same(what, &self.runc.stdout, &self.rune.stdout);
    }

    /// Panics unless both workloads exited with the same code.
    fn assert_same_code(&self, what: &str) {
        assert_eq!(
            self.runc.code, self.rune.code,
            "{what}: exit code differs: runc {} vs rune {}\nrunc stderr: {}\nrune stderr: {}",
            self.runc.code, self.rune.code, self.runc.stderr, self.rune.stderr
        );
    }

    /// Panics unless both runs succeeded and printed the same thing.
    fn assert_same_success(&self, what: &str) {
        for (name, out) in [("runc", &self.runc), ("rune", &self.rune)] {
            assert_eq!(
                out.code, 0,
                "{what}: the workload failed under {name}: {out:#?}"
            );
        }
        self.assert_same_stdout(what);
    }

    /// Panics unless both runs succeeded and printed the same thing, and rune's output shows a
    /// write refused with EROFS: the same output alone would also pass if both wrote.
    fn assert_same_read_only(&self, what: &str) {
        self.assert_same_success(what);
        assert!(
            self.rune.stdout.contains("Read-only file system"),
            "{what}: no write was refused as read-only under rune: {}",
            self.rune.stdout
        );
    }
}

/// Runs `bundle` in the foreground under runc, then under rune, with ids derived from `name`, and
/// returns both outcomes with the container id in stdout replaced by `<id>`.
fn run_both(name: &str, bundle: &Bundle) -> Seen {
    let run = |runtime: Runtime, suffix: &str| {
        let id = format!("{}-{suffix}", unique_id(&format!("diff-{name}")));
        let mut out = runtime.run(bundle, &id);
        out.stdout = out.stdout.replace(&id, "<id>");
        out
    };
    Seen {
        runc: run(runc(), "runc"),
        rune: run(Runtime::rune(), "rune"),
    }
}

/// Debian's runc, found on PATH (`require_tool!("runc")` checked it is there).
fn runc() -> Runtime {
    Runtime::new(PathBuf::from("runc"))
}

/// A bundle running `script` with `sh -c`, with the shell's stderr sent to its stdout.
fn shell_bundle(script: &str) -> Bundle {
    Bundle::busybox(&["sh", "-c", &format!("exec 2>&1; {script}")])
}

/// Panics with both texts and the lines only one side has, unless they are equal.
fn assert_same(what: &str, runc: &str, rune: &str) {
    if runc == rune {
        return;
    }
    let runc_lines: BTreeSet<&str> = runc.lines().collect();
    let rune_lines: BTreeSet<&str> = rune.lines().collect();
    let only = |a: &BTreeSet<&str>, b: &BTreeSet<&str>| {
        a.difference(b)
            .map(|l| format!("  {l}\n"))
            .collect::<String>()
    };
    panic!(
        "{what} differs between runc and rune\n\
         only under runc:\n{}only under rune:\n{}\
         --- runc ---\n{runc}--- rune ---\n{rune}",
        only(&runc_lines, &rune_lines),
        only(&rune_lines, &runc_lines),
    );
}

/// The lines of `text` that start with one of `prefixes`.
fn lines_starting(text: &str, prefixes: &[&str]) -> String {
    text.lines()
        .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn hostname() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["hostname"]);
    let seen = run_both("hostname", &bundle);
    seen.assert_same_success("hostname");
    assert_eq!(
        seen.rune.stdout, "runc\n",
        "the spec's hostname is \"runc\""
    );
}

#[test]
fn capability_sets() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["cat", "/proc/self/status"]);
    let seen = run_both("caps", &bundle);
    seen.assert_same_code("capabilities");
    let caps = ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"];
    assert_same(
        "capability sets in /proc/self/status",
        &lines_starting(&seen.runc.stdout, &caps),
        &lines_starting(&seen.rune.stdout, &caps),
    );
}

#[test]
fn id_as_root() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["id"]);
    run_both("id", &bundle).assert_same_success("`id` output");
}

#[test]
fn rlimits() {
    require_root!();
    require_tool!("runc");
    let bundle = shell_bundle("ulimit -a");
    run_both("ulimit", &bundle).assert_same_success("`ulimit -a` output");
}

/// The mount table as a list of `parent-mount-point mount-point fstype ro|rw`, in mountinfo order.
///
/// Mount ids become the parent's mount point, and device numbers, mount roots, sources and
/// options other than ro/rw are dropped: they differ from run to run (the mount root also
/// carries the cgroup nesting, which `proc_self_cgroup_nesting` compares on its own).
fn mount_shape(mountinfo: &str) -> String {
    let mounts = parse_mountinfo(mountinfo);
    let point: HashMap<&str, &str> = mounts
        .iter()
        .map(|m| (m.id.as_str(), m.point.as_str()))
        .collect();
    mounts
        .iter()
        .map(|m| {
            let parent = point.get(m.parent.as_str()).copied().unwrap_or("<outside>");
            format!("{parent} {} {} {}\n", m.point, m.fstype, m.access)
        })
        .collect()
}

/// The mounts a process in the container can see (the top of each stack of mounts on one mount
/// point, under a visible parent), as sorted `mount-point fstype ro|rw` lines.
fn visible_mounts(mountinfo: &str) -> String {
    let mounts = parse_mountinfo(mountinfo);
    let by_id: HashMap<&str, &Mount> = mounts.iter().map(|m| (m.id.as_str(), m)).collect();
    // A mount is the top of its stack unless another one is mounted on the same point over it.
    let covered: BTreeSet<&str> = mounts
        .iter()
        .filter(|m| {
            by_id
                .get(m.parent.as_str())
                .is_some_and(|p| p.point == m.point)
        })
        .map(|m| m.parent.as_str())
        .collect();
    let visible = |start: &Mount| -> bool {
        let mut m = start;
        loop {
            if covered.contains(m.id.as_str()) {
                return false;
            }
            // Walk down the stack to its base, then up to the mount it sits on.
            let mut base = m;
            while let Some(p) = by_id
                .get(base.parent.as_str())
                .filter(|p| p.point == base.point)
            {
                base = p;
            }
            match by_id.get(base.parent.as_str()) {
                Some(parent) => m = parent,
                None => return true,
            }
        }
    };
    let lines: BTreeSet<String> = mounts
        .iter()
        .filter(|m| visible(m))
        .map(|m| format!("{} {} {}\n", m.point, m.fstype, m.access))
        .collect();
    lines.into_iter().collect()
}

/// One line of /proc/self/mountinfo (proc(5)), reduced to what the comparisons use.
#[derive(Debug)]
struct Mount {
    id: String,
    parent: String,
    point: String,
    access: &'static str,
    fstype: String,
}

fn parse_mountinfo(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let dash = fields
                .iter()
                .position(|f| *f == "-")
                .unwrap_or_else(|| panic!("mountinfo line without ' - ': {line}"));
            assert!(
                dash >= 6 && fields.len() > dash + 1,
                "short mountinfo line: {line}"
            );
            let access = if fields[5].split(',').any(|o| o == "ro") {
                "ro"
            } else {
                "rw"
            };
            Mount {
                id: fields[0].to_owned(),
                parent: fields[1].to_owned(),
                point: fields[4].to_owned(),
                access,
                fstype: fields[dash + 1].to_owned(),
            }
        })
        .collect()
}

#[test]
fn mountinfo_shape() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["cat", "/proc/self/mountinfo"]);
    let seen = run_both("mountinfo", &bundle);
    seen.assert_same_code("cat /proc/self/mountinfo");
    assert_same(
        "mount table shape (parent, mount point, fstype, ro/rw)",
        &mount_shape(&seen.runc.stdout),
        &mount_shape(&seen.rune.stdout),
    );
}

#[test]
fn visible_mounts_match() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["cat", "/proc/self/mountinfo"]);
    let seen = run_both("mounts", &bundle);
    seen.assert_same_code("cat /proc/self/mountinfo");
    assert_same(
        "visible mounts (mount point, fstype, ro/rw)",
        &visible_mounts(&seen.runc.stdout),
        &visible_mounts(&seen.rune.stdout),
    );
}

/// runc leaves the /sys/fs/cgroup tmpfs read-write with mode 0555 under a read-only cgroup
/// mount (writes fail with EACCES, and succeed for a root with CAP_DAC_OVERRIDE, e.g. Docker's
/// default capabilities); the hierarchies' mounts are what is read-only.
#[test]
fn cgroup_tmpfs_root() {
    require_root!();
    require_tool!("runc");
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipping cgroup_tmpfs_root: pure cgroup v2 host, no tmpfs of v1 hierarchies");
        return;
    }
    let bundle = shell_bundle(
        "ls -ld /sys/fs/cgroup | cut -c1-10; mkdir /sys/fs/cgroup/x; echo mkdir=$?; \
         grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f5,6",
    );
    let seen = run_both("cgroup-tmpfs", &bundle);
    seen.assert_same_success("mode, access and mount options of the /sys/fs/cgroup tmpfs");
}

/// A bundle running `env` directly (not through a shell, which would re-export its variables in
/// its own order), with two extra variables and a duplicate whose last value must win.
fn env_bundle() -> Bundle {
    let bundle = Bundle::busybox(&["env"]);
    bundle.edit(|c| {
        let env = c["process"]["env"].as_array_mut().expect("process.env");
        for var in ["GREETING=hello world", "EMPTY=", "DUP=first", "DUP=last"] {
            env.push(json!(var));
        }
    });
    bundle
}

/// The lines of `text`, sorted.
fn sorted_lines(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn env() {
    require_root!();
    require_tool!("runc");
    // HOME is not in the spec: both runtimes add it from the rootfs's /etc/passwd. The order is
    // compared by `env_order`.
    let seen = run_both("env", &env_bundle());
    seen.assert_same_code("`env`");
    assert_same(
        "environment (sorted)",
        &sorted_lines(&seen.runc.stdout),
        &sorted_lines(&seen.rune.stdout),
    );
    assert!(
        seen.rune.stdout.contains("DUP=last\n") && !seen.rune.stdout.contains("DUP=first"),
        "a duplicate variable keeps its last value: {}",
        seen.rune.stdout
    );
}

#[test]
fn env_order() {
    require_root!();
    require_tool!("runc");
    run_both("env-order", &env_bundle()).assert_same_success("environment, in envp order");
}

#[test]
fn cwd_default() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["pwd"]);
    let seen = run_both("cwd", &bundle);
    seen.assert_same_success("working directory");
    assert_eq!(seen.rune.stdout, "/\n", "the spec's cwd is /");
}

#[test]
fn cwd_tmp() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["pwd"]);
    bundle.edit(|c| c["process"]["cwd"] = json!("/tmp"));
    let seen = run_both("cwd-tmp", &bundle);
    seen.assert_same_success("working directory with process.cwd = /tmp");
    assert_eq!(seen.rune.stdout, "/tmp\n", "process.cwd is /tmp");
}

#[test]
fn exit_codes() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["true"]);
    for code in [0, 1, 3, 42, 255] {
        bundle.edit(|c| c["process"]["args"] = json!(["sh", "-c", format!("exit {code}")]));
        let seen = run_both(&format!("exit{code}"), &bundle);
        seen.assert_same_code(&format!("`exit {code}`"));
        assert_eq!(seen.rune.code, code, "rune's exit code for `exit {code}`");
    }
}

#[test]
fn self_sigkill_as_pid1() {
    require_root!();
    require_tool!("runc");
    // The workload is PID 1 of its PID namespace, and the kernel drops signals a namespace's init
    // sends itself unless it handles them (pid_namespaces(7)); SIGKILL cannot be handled. So
    // `kill -KILL $$` does nothing and the shell exits 0, under both runtimes.
    let bundle = Bundle::busybox(&["sh", "-c", "kill -KILL $$"]);
    let seen = run_both("sigkill-pid1", &bundle);
    seen.assert_same_code("a PID 1 workload that SIGKILLs itself");
    assert_eq!(seen.rune.code, 0, "PID 1 survives its own SIGKILL");
}

#[test]
fn self_sigkill_without_pid_namespace() {
    require_root!();
    require_tool!("runc");
    // Without a PID namespace the shell is an ordinary process and dies: 128 + SIGKILL.
    let bundle = Bundle::busybox(&["sh", "-c", "kill -KILL $$"]);
    bundle.edit(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        namespaces.retain(|ns| ns["type"] != "pid");
    });
    let seen = run_both("sigkill", &bundle);
    seen.assert_same_code("a workload that SIGKILLs itself");
    assert_eq!(seen.rune.code, 128 + 9, "SIGKILL death is 128+9");
}

/// Runs `bundle` in the foreground, kills it with `runtime kill ID KILL` once it runs, and
/// returns the exit code of `run`.
fn killed_foreground_run(runtime: &Runtime, bundle: &Bundle, id: &str) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let mut run = runtime
        .command(&["run", "--bundle", &bundle.path().to_string_lossy(), id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("running the runtime");
    let running = runtime.wait_for_status(id, "running");
    let kill = runtime.call(&["kill", id, "KILL"]);
    let status = run.wait().expect("waiting for run");
    assert!(
        running,
        "{} never showed {id} running",
        runtime.bin.display()
    );
    assert_eq!(kill.code, 0, "kill {id} KILL: {kill:#?}");
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[test]
fn foreground_run_killed() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("diff-fgkill");
    let runc_code = killed_foreground_run(&runc(), &bundle, &format!("{id}-runc"));
    let rune_code = killed_foreground_run(&Runtime::rune(), &bundle, &format!("{id}-rune"));
    assert_eq!(
        runc_code, rune_code,
        "exit code of `run` whose container got `kill ID KILL`: runc {runc_code} vs rune {rune_code}"
    );
    assert_eq!(rune_code, 128 + 9, "SIGKILL death is 128+9");
}

/// Runs `bundle` detached, kills it with `runtime kill ID KILL` and returns the exit code of
/// `kill` and the status `state` reports after it.
fn kill_detached(runtime: &Runtime, bundle: &Bundle, id: &str) -> (i32, Option<String>) {
    // Detached, the container inherits the runtime's stdio: give it none, or reading the output
    // would wait for the container.
    let status = runtime
        .command(&[
            "run",
            "--detach",
            "--bundle",
            &bundle.path().to_string_lossy(),
            id,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running the runtime");
    assert!(
        status.success(),
        "{} run --detach {id}: {status}",
        runtime.bin.display()
    );
    assert_eq!(
        runtime.status(id).as_deref(),
        Some("running"),
        "{} state {id} after run --detach",
        runtime.bin.display()
    );
    let kill = runtime.call(&["kill", id, "KILL"]);
    runtime.wait_for_status(id, "stopped");
    let status = runtime.status(id);
    runtime.call(&["delete", id]).ok();
    (kill.code, status)
}

#[test]
fn kill_detached_container() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("diff-kill");
    let runc_seen = kill_detached(&runc(), &bundle, &format!("{id}-runc"));
    let rune_seen = kill_detached(&Runtime::rune(), &bundle, &format!("{id}-rune"));
    assert_eq!(
        runc_seen, rune_seen,
        "(kill exit code, state after kill) differs: runc {runc_seen:?} vs rune {rune_seen:?}"
    );
    assert_eq!(
        rune_seen,
        (0, Some("stopped".to_owned())),
        "rune after kill KILL"
    );
}

#[test]
fn non_root_user() {
    require_root!();
    require_tool!("runc");
    let bundle = shell_bundle("id; grep -E '^Cap' /proc/self/status; echo HOME=$HOME");
    bundle.edit(|c| {
        c["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [5, 100]});
    });
    let seen = run_both("nobody", &bundle);
    seen.assert_same_success("`id`, capabilities and HOME of uid 65534 with additionalGids");
    assert!(
        seen.rune
            .stdout
            .starts_with("uid=65534(nobody) gid=65534(nobody)"),
        "rune ran the workload as nobody: {}",
        seen.rune.stdout
    );
}

#[test]
fn readonly_rootfs() {
    require_root!();
    require_tool!("runc");
    let bundle = shell_bundle("touch /; echo touch=$?; mkdir /new; echo mkdir=$?");
    let seen = run_both("rofs", &bundle);
    seen.assert_same_read_only("writing to a read-only rootfs");
}

#[test]
fn masked_paths() {
    require_root!();
    require_tool!("runc");
    // /proc/kcore, /proc/keys and /proc/timer_list are masked with /dev/null, /proc/acpi and
    // /sys/firmware with an empty read-only tmpfs; paths this kernel lacks fail the same way.
    let bundle = shell_bundle(
        "for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats \
         /proc/asound /proc/scsi; do n=$(cat $p | wc -c); echo \"$p: $n bytes\"; done; \
         for d in /proc/acpi /sys/firmware; do echo \"$d: [$(ls -A $d)]\"; touch $d/x; \
         echo touch=$?; done",
    );
    run_both("masked", &bundle).assert_same_success("masked paths");
}

#[test]
fn readonly_paths() {
    require_root!();
    require_tool!("runc");
    let bundle = shell_bundle(
        "echo rune > /proc/sys/kernel/domainname; echo sys=$?; \
         echo 0 > /proc/sysrq-trigger; echo sysrq=$?",
    );
    let seen = run_both("ropaths", &bundle);
    seen.assert_same_read_only("writing to readonly paths");
}

#[test]
fn cgroup_mount_is_readonly() {
    require_root!();
    require_tool!("runc");
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipping cgroup_mount_is_readonly: pure cgroup v2 host, no v1 memory hierarchy");
        return;
    }
    let bundle = shell_bundle(
        "f=/sys/fs/cgroup/memory/memory.limit_in_bytes; cat $f >/dev/null && echo readable; \
         echo 1073741824 > $f; echo write=$?; mkdir /sys/fs/cgroup/memory/child; echo mkdir=$?",
    );
    let seen = run_both("cgroupro", &bundle);
    seen.assert_same_read_only("writing to the container's cgroup v1 memory hierarchy");
}

/// With a cgroup namespace the hierarchies are mounted as cgroup filesystems rather than bound
/// from the host; a read-only cgroup mount must make those read-only too. Their sources are
/// compared as well (runc names a named hierarchy's source after it).
#[test]
fn cgroup_mount_is_readonly_in_a_cgroup_namespace() {
    require_root!();
    require_tool!("runc");
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!(
            "skipping cgroup_mount_is_readonly_in_a_cgroup_namespace: pure cgroup v2 host, no v1 \
             memory hierarchy"
        );
        return;
    }
    let bundle = shell_bundle(
        "grep ' /sys/fs/cgroup' /proc/self/mountinfo | cut -d' ' -f5,6,9 | sort; \
         f=/sys/fs/cgroup/memory/memory.limit_in_bytes; echo 1073741824 > $f; echo write=$?",
    );
    bundle.edit(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        namespaces.push(json!({"type": "cgroup"}));
    });
    let seen = run_both("cgroupns-ro", &bundle);
    seen.assert_same_read_only("cgroup v1 mounts under a cgroup namespace, and a write to one");
}

/// /proc/self/cgroup of a container, each path written relative to the caller's own cgroup in
/// the same hierarchy (`<caller>/<id>` is runc's nesting), so the caller's placement drops out.
fn cgroup_nesting(container: &str, caller: &str) -> String {
    let split = |line: &str| -> (String, String) {
        let (hierarchy, path) = line
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("malformed /proc/self/cgroup line: {line}"));
        // Drop the hierarchy number: it is the host's, but the controller list names it.
        let name = match hierarchy.split_once(':').map_or(hierarchy, |(_, n)| n) {
            "" => "cgroup2",
            named => named,
        };
        (name.to_owned(), path.to_owned())
    };
    let own: HashMap<String, String> = caller.lines().map(split).collect();
    container
        .lines()
        .map(|line| {
            let (name, path) = split(line);
            let relative = match own.get(&name) {
                Some(base) if *base == path => "<caller>".to_owned(),
                Some(base) if base == "/" => format!("<caller>{path}"),
                Some(base) => match path.strip_prefix(base.as_str()) {
                    Some(rest) if rest.starts_with('/') => format!("<caller>{rest}"),
                    _ => format!("{path} (outside the caller's {base})"),
                },
                None => format!("{path} (hierarchy the caller is not in)"),
            };
            format!("{name}: {relative}\n")
        })
        .collect()
}

#[test]
#[ignore = "rune bug: without cgroupsPath it nests every hierarchy under one path (the caller's \
            memory cgroup: libcontainer keeps one cgroup path per container, where runc records \
            one per hierarchy); runc nests <caller's own cgroup in that hierarchy>/<id> in each"]
fn proc_self_cgroup_nesting() {
    require_root!();
    require_tool!("runc");
    let caller = std::fs::read_to_string("/proc/self/cgroup").expect("reading /proc/self/cgroup");
    let bundle = Bundle::busybox(&["cat", "/proc/self/cgroup"]);
    let seen = run_both("cgroup", &bundle);
    seen.assert_same_code("cat /proc/self/cgroup");
    assert_same(
        "/proc/self/cgroup relative to the caller's cgroups",
        &cgroup_nesting(&seen.runc.stdout, &caller),
        &cgroup_nesting(&seen.rune.stdout, &caller),
    );
}

/// With a `linux.cgroupsPath` (containerd's, Docker's and Kubernetes' way) the container's
/// process is in that cgroup in every hierarchy, including those without controllers that
/// systemd tracks services by (`name=systemd`, and the unified one on a hybrid host): left in
/// its caller's, systemd would count the container as part of the caller's service.
#[test]
fn proc_self_cgroup_with_a_cgroups_path() {
    require_root!();
    require_tool!("runc");
    let parent = unique_id("diff-cgpath");
    let bundle = Bundle::busybox(&["cat", "/proc/self/cgroup"]);
    let run = |runtime: Runtime, name: &str| {
        let id = format!("{parent}-{name}");
        let path = format!("/{parent}/{id}");
        bundle.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
        let mut out = runtime.run(&bundle, &id);
        out.stdout = out.stdout.replace(&path, "<cgroupsPath>");
        let left = rune_integration_tests::cgroups_named(&id);
        assert!(left.is_empty(), "{name} left its cgroups: {left:?}");
        out
    };
    let seen = Seen {
        runc: run(runc(), "runc"),
        rune: run(Runtime::rune(), "rune"),
    };
    // Both runtimes leave the parent directories a path names, as runc does.
    for parent_dir in rune_integration_tests::cgroups_named(&parent) {
        let _ = std::fs::remove_dir(parent_dir);
    }
    seen.assert_same_success("/proc/self/cgroup with linux.cgroupsPath");
}

#[test]
fn no_new_privileges() {
    require_root!();
    require_tool!("runc");
    let bundle = Bundle::busybox(&["grep", "NoNewPrivs", "/proc/self/status"]);
    for nnp in [true, false] {
        bundle.edit(|c| c["process"]["noNewPrivileges"] = json!(nnp));
        let seen = run_both(&format!("nnp-{nnp}"), &bundle);
        seen.assert_same_success(&format!("NoNewPrivs with noNewPrivileges = {nnp}"));
        assert_eq!(
            seen.rune.stdout,
            format!("NoNewPrivs:\t{}\n", u8::from(nnp)),
            "rune's NoNewPrivs with noNewPrivileges = {nnp}"
        );
    }
}

#[test]
fn seccomp_mode() {
    require_root!();
    require_tool!("runc");
    // runc's default spec has no seccomp section: mode 0. With a filter that makes mkdir fail
    // with EPERM on the writable /dev/shm: mode 2, and the same failure.
    let bundle =
        shell_bundle("grep '^Seccomp:' /proc/self/status; mkdir /dev/shm/d; echo mkdir=$?");
    let seen = run_both("seccomp-none", &bundle);
    seen.assert_same_success("seccomp mode without linux.seccomp");
    assert!(
        seen.rune.stdout.starts_with("Seccomp:\t0\n"),
        "{}",
        seen.rune.stdout
    );

    bundle.edit(|c| c["linux"]["seccomp"] = seccomp_profile());
    let seen = run_both("seccomp-filter", &bundle);
    seen.assert_same_success("seccomp mode and effect with a filter");
    assert!(
        seen.rune.stdout.starts_with("Seccomp:\t2\n") && seen.rune.stdout.contains("mkdir=1"),
        "rune installed the filter: {}",
        seen.rune.stdout
    );
}

/// Allow everything but mkdir/mkdirat, which fail with EPERM.
fn seccomp_profile() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    })
}
