//! The enclave pool manager (`epm`) with real rune and sim enclave containers: hits and
//! misses, containers started together, eviction, tenant isolation, images changed after they
//! were cached, overlay rootfs mounts of one image's layers, epm killed in the middle of a
//! handover, epm down, and the `no-epm` opt-out. Each test runs its own epm on a private socket
//! (`RUNE_EPM_SOCKET`) and its own sim platform (`RUNE_SIM_DIR`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rune_integration_tests::{
    built_binary, cgroups_named, processes_matching, require_root, unique_id, wait_until, Bundle,
    Outcome, Runtime,
};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A running epm daemon on a private socket.
struct Epm {
    child: Child,
    dir: TempDir,
}

impl Epm {
    fn start(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new().prefix("epm-").tempdir().unwrap();
        let child = Self::spawn(dir.path(), args);
        let epm = Self { child, dir };
        epm.wait_up();
        epm
    }

    fn spawn(dir: &Path, args: &[&str]) -> Child {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.join("epm.log"))
            .unwrap();
        Command::new(built_binary("epm"))
            .arg("--socket")
            .arg(dir.join("run/epm.sock"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting epm")
    }

    fn wait_up(&self) {
        assert!(
            wait_until(Duration::from_secs(10), || self.try_status().is_some()),
            "epm did not come up: {}",
            self.log()
        );
    }

    /// Starts a new daemon on the same socket (after [`kill`](Self::kill)).
    fn restart(&mut self) {
        self.child = Self::spawn(self.dir.path(), &[]);
        self.wait_up();
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/epm.sock")
    }

    fn epm(&self, args: &[&str]) -> Outcome {
        rune_integration_tests::run_captured(
            Command::new(built_binary("epm"))
                .arg("--socket")
                .arg(self.socket())
                .args(args),
        )
    }

    fn try_status(&self) -> Option<Value> {
        let out = self.epm(&["status"]);
        (out.code == 0).then(|| serde_json::from_str(&out.stdout).unwrap())
    }

    fn status(&self) -> Value {
        self.try_status()
            .unwrap_or_else(|| panic!("epm status failed: {}", self.log()))
    }

    /// Ready enclaves of `tenant` (any image), once the background refill is done.
    fn ready(&self, tenant: &str) -> u64 {
        self.status()["pools"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["tenant"] == tenant)
            .map(|p| p["ready"].as_u64().unwrap())
            .sum()
    }

    fn wait_ready(&self, tenant: &str, n: u64) {
        assert!(
            wait_until(Duration::from_secs(20), || self.ready(tenant) == n),
            "tenant {tenant} never had {n} ready enclaves: {:#}",
            self.status()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("epm.log")).unwrap_or_default()
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// The descriptor count once it has not changed for 200 ms: the connection of a request
    /// just answered (e.g. `wait_ready`'s status) may still be open on epm's side.
    fn settled_fds(&self) -> usize {
        let mut last = self.open_fds();
        let mut unchanged = 0;
        while unchanged < 4 {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.open_fds();
            unchanged = if now == last { unchanged + 1 } else { 0 };
            last = now;
        }
        last
    }

    /// Panics unless epm's descriptor count comes back to `before` (what [`settled_fds`]
    /// gave before the hand-outs) within 5 s: handed-out enclaves are not kept.
    ///
    /// [`settled_fds`]: Self::settled_fds
    fn assert_fds_back_to(&self, before: usize) {
        let settled = wait_until(Duration::from_secs(5), || self.open_fds() == before);
        assert!(
            settled,
            "epm holds {} descriptors, {before} before the hand-outs: {}",
            self.open_fds(),
            self.log()
        );
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Epm {
    fn drop(&mut self) {
        self.kill();
    }
}

/// rune with a private sim platform, pointed at an epm socket, and a signing key.
struct Sim {
    rt: Runtime,
    _platform: TempDir,
    keys: TempDir,
    logs: TempDir,
}

impl Sim {
    fn new(socket: &Path) -> Self {
        let platform = tempfile::tempdir().unwrap();
        let mut rt = Runtime::rune();
        rt.env.push((
            "RUNE_SIM_DIR".into(),
            platform.path().join("sim").to_string_lossy().into_owned(),
        ));
        rt.env.push((
            "RUNE_EPM_SOCKET".into(),
            socket.to_string_lossy().into_owned(),
        ));
        let keys = tempfile::tempdir().unwrap();
        rt.call(&[
            "enclave",
            "keygen",
            "--output",
            &keys.path().join("k.pem").to_string_lossy(),
        ])
        .ok();
        Self {
            rt,
            _platform: platform,
            keys,
            logs: tempfile::tempdir().unwrap(),
        }
    }

    /// A signed sim bundle running `args`; `data` bytes of random data go in `/data.bin`
    /// (a trusted file) when given; `env` is added to the process environment.
    fn bundle(&self, args: &[&str], data: Option<usize>, env: &[&str]) -> Bundle {
        let bundle = Bundle::busybox(args);
        let pal = built_binary("liberpal_sim.so")
            .to_string_lossy()
            .into_owned();
        bundle.edit(|c| {
            let list = c["process"]["env"].as_array_mut().unwrap();
            list.push(json!("ENCLAVE_TYPE=sim"));
            list.push(json!(format!("ENCLAVE_RUNTIME_PATH={pal}")));
            for e in env {
                list.push(json!(e));
            }
        });
        let mut sign = vec![
            "enclave".to_owned(),
            "sign".to_owned(),
            "--bundle".to_owned(),
            bundle.path().to_string_lossy().into_owned(),
            "--key".to_owned(),
            self.keys
                .path()
                .join("k.pem")
                .to_string_lossy()
                .into_owned(),
        ];
        if let Some(size) = data {
            // Printable, so a workload may cat it.
            let bytes: Vec<u8> = (0..size)
                .map(|i| b"abcdefghijklmnopqrstuvwxyz"[i * 7 % 26])
                .collect();
            std::fs::write(bundle.rootfs().join("data.bin"), bytes).unwrap();
            sign.extend(["--include".to_owned(), "/data.bin".to_owned()]);
        }
        let sign: Vec<&str> = sign.iter().map(String::as_str).collect();
        self.rt.call(&sign).ok();
        bundle
    }

    /// `rune --log L run`; returns the outcome and the log's text.
    fn run(&self, bundle: &Bundle, id: &str) -> (Outcome, String) {
        let log = self.logs.path().join(format!("{id}.log"));
        let out = self.rt.call(&[
            "--log",
            &log.to_string_lossy(),
            "run",
            "--bundle",
            &bundle.path().to_string_lossy(),
            id,
        ]);
        (out, std::fs::read_to_string(&log).unwrap_or_default())
    }

    fn assert_nothing_left(&self, id: &str) {
        assert!(
            self.rt.leftover_state().iter().all(|e| e.starts_with('.')),
            "{:?}",
            self.rt.leftover_state()
        );
        assert!(cgroups_named(id).is_empty(), "cgroups of {id} left");
        assert!(
            processes_matching(id).is_empty(),
            "processes of {id} left: {:?}",
            processes_matching(id)
        );
    }
}

/// rune's log line about the handover: tenant and hit, e.g. `("label:a", false)`.
fn handover(log: &str) -> (String, bool) {
    let line = log
        .lines()
        .find(|l| l.contains("enclave handed over by epm"))
        .unwrap_or_else(|| panic!("no handover in the log: {log}"));
    let field = |name: &str| {
        let start = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
        line[start..]
            .split(' ')
            .next()
            .unwrap()
            .trim_matches(|c| c == '\\' || c == '"')
            .to_owned()
    };
    (field("tenant"), field("hit") == "true")
}

fn counter(status: &Value, name: &str) -> u64 {
    status[name].as_u64().unwrap()
}

#[test]
fn second_start_is_a_hit_and_the_enclave_is_handed_over_once() {
    require_root!();
    let epm = Epm::start(&[]);
    let sim = Sim::new(&epm.socket());
    let bundle = sim.bundle(&["sh", "-c", "echo pooled; exit 4"], Some(1 << 20), &[]);

    let (out, log) = sim.run(&bundle, &unique_id("epm-miss"));
    assert_eq!((out.code, out.stdout.as_str()), (4, "pooled\n"), "{out:#?}");
    assert!(log.contains("hit=false"), "{log}");
    assert!(
        out.stderr
            .contains("sim enclave initialised from an epm handover"),
        "{out:#?}"
    );
    let status = epm.status();
    assert_eq!(
        (counter(&status, "hits"), counter(&status, "misses")),
        (0, 1)
    );
    assert_eq!(status["tee"], "sim");

    epm.wait_ready("host", 1);
    let fds_before = epm.settled_fds();
    for round in 0..3 {
        let (out, log) = sim.run(&bundle, &unique_id(&format!("epm-hit{round}")));
        assert_eq!(out.code, 4, "{out:#?}");
        assert!(
            log.contains("hit=true") && log.contains("hashed_bytes=0"),
            "{log}"
        );
        assert!(
            out.stderr.contains("reused=2 hashed=0"),
            "both trusted files (busybox, data.bin) came measured: {out:#?}"
        );
        epm.wait_ready("host", 1);
    }
    let status = epm.status();
    assert_eq!(
        (counter(&status, "hits"), counter(&status, "misses")),
        (3, 1)
    );
    // Handed-out enclaves are gone from epm (not kept, not reused): its descriptors do not
    // grow with the number of containers. The connection of the status request above may
    // still be open on epm's side for a moment: wait for it to close.
    epm.assert_fds_back_to(fds_before);
}

/// Containers of one image started together, as a scaled-up deployment starts them: each gets
/// an enclave (a ready one or, when the pool is empty, one measured for it), each is counted
/// once, the pool refills to its pre-warm setting and epm holds nothing more than before.
#[test]
fn containers_started_together_each_get_an_enclave() {
    require_root!();
    let epm = Epm::start(&[]);
    let sim = Sim::new(&epm.socket());
    let bundle = sim.bundle(&["sh", "-c", "echo together"], Some(1 << 20), &[]);
    let (out, _) = sim.run(&bundle, &unique_id("epm-together-warm"));
    assert_eq!(out.code, 0, "{out:#?}");
    epm.wait_ready("host", 1);
    let fds_before = epm.settled_fds();

    const CONTAINERS: usize = 6;
    let ids: Vec<String> = (0..CONTAINERS)
        .map(|i| unique_id(&format!("epm-together{i}")))
        .collect();
    let runs: Vec<(Outcome, String)> = std::thread::scope(|scope| {
        let started: Vec<_> = ids
            .iter()
            .map(|id| scope.spawn(|| sim.run(&bundle, id)))
            .collect();
        started.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut hits = 0;
    for ((out, log), id) in runs.iter().zip(&ids) {
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "together\n"),
            "{id}: {out:#?}"
        );
        let (tenant, hit) = handover(log);
        assert_eq!(tenant, "host");
        hits += u64::from(hit);
        sim.assert_nothing_left(id);
    }
    assert!(hits >= 1, "the ready enclave went to one of them");
    let status = epm.status();
    assert_eq!(
        (counter(&status, "hits"), counter(&status, "misses")),
        (hits, 1 + CONTAINERS as u64 - hits),
        "every container counted once: {status:#}"
    );
    epm.wait_ready("host", 1);
    epm.assert_fds_back_to(fds_before);
}

#[test]
fn the_pool_stays_within_its_bounds_evicting_the_least_recently_used() {
    require_root!();
    let epm = Epm::start(&["--max-enclaves", "2"]);
    let sim = Sim::new(&epm.socket());
    let bundles: Vec<Bundle> = ["one", "two", "three"]
        .iter()
        .map(|word| sim.bundle(&["echo", word], None, &[]))
        .collect();
    let warm = |b: &Bundle| {
        let out = epm.epm(&["warm", "--bundle", &b.path().to_string_lossy()]);
        assert_eq!(out.code, 0, "{out:#?}");
    };
    for b in &bundles {
        warm(b);
    }
    let status = epm.status();
    assert_eq!(counter(&status, "enclaves"), 2, "{status:#}");
    assert_eq!(counter(&status, "evictions"), 1, "{status:#}");
    let ready: Vec<u64> = status["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ready"].as_u64().unwrap())
        .collect();
    assert_eq!(ready.iter().sum::<u64>(), 2);
    assert!(
        ready.contains(&0),
        "the least recently used image lost its enclave"
    );

    // A memory bound smaller than two busybox copies holds one enclave.
    let busybox = std::fs::metadata(bundles[0].rootfs().join("bin/busybox"))
        .unwrap()
        .len();
    let small = Epm::start(&["--max-memory", &(busybox * 3 / 2).to_string()]);
    for b in &bundles[..2] {
        let out = small.epm(&["warm", "--bundle", &b.path().to_string_lossy()]);
        assert_eq!(out.code, 0, "{out:#?}");
    }
    let status = small.status();
    assert_eq!(counter(&status, "enclaves"), 1, "{status:#}");
    assert!(counter(&status, "memory") <= busybox * 3 / 2);
}

#[test]
fn tenants_never_share_enclaves() {
    require_root!();
    let epm = Epm::start(&[]);
    let sim = Sim::new(&epm.socket());
    let bundle = sim.bundle(&["echo", "tenant"], None, &[]);
    let out = epm.epm(&[
        "warm",
        "--bundle",
        &bundle.path().to_string_lossy(),
        "--label",
        "team-a",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(epm.ready("label:team-a"), 1);

    let as_tenant = |label: &str, sandbox: Option<&str>| {
        bundle.edit(|c| {
            let env = c["process"]["env"].as_array_mut().unwrap();
            env.retain(|e| !e.as_str().unwrap().starts_with("ENCLAVE_EPM_TENANT="));
            env.push(json!(format!("ENCLAVE_EPM_TENANT={label}")));
            match sandbox {
                Some(id) => c["annotations"] = json!({ "io.kubernetes.cri.sandbox-id": id }),
                None => c["annotations"] = json!({}),
            }
        });
    };
    as_tenant("team-b", None);
    let (out, log) = sim.run(&bundle, &unique_id("epm-team-b"));
    assert_eq!((out.code, out.stdout.as_str()), (0, "tenant\n"), "{out:#?}");
    assert_eq!(handover(&log), ("label:team-b".to_owned(), false));
    assert_eq!(
        epm.ready("label:team-a"),
        1,
        "team-b took nothing of team-a's"
    );

    // The label cannot reach another pod's enclaves: a sandbox narrows it.
    as_tenant("team-a", Some("pod-1"));
    let (out, log) = sim.run(&bundle, &unique_id("epm-pod"));
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        handover(&log),
        ("sandbox:pod-1/label:team-a".to_owned(), false)
    );
    assert_eq!(epm.ready("label:team-a"), 1);

    as_tenant("team-a", None);
    let (out, log) = sim.run(&bundle, &unique_id("epm-team-a"));
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(handover(&log), ("label:team-a".to_owned(), true));
    let status = epm.status();
    assert_eq!(
        (counter(&status, "hits"), counter(&status, "misses")),
        (1, 2)
    );
}

/// Changes byte 100 of `path` and puts its mtime back: only the content (and the ctime, which
/// user space cannot set) differ. Returns the original content.
fn change_one_byte_keeping_the_mtime(path: &Path) -> Vec<u8> {
    let original = std::fs::read(path).unwrap();
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut changed = original.clone();
    changed[100] = if changed[100] == b'z' { b'y' } else { b'z' };
    std::fs::write(path, &changed).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    original
}

#[test]
fn an_image_changed_after_it_was_cached_is_never_served_stale() {
    require_root!();
    let epm = Epm::start(&[]);
    let sim = Sim::new(&epm.socket());
    let bundle = sim.bundle(&["cat", "/data.bin"], Some(4096), &[]);
    let (out, _) = sim.run(&bundle, &unique_id("epm-fresh"));
    assert_eq!((out.code, out.stdout.len()), (0, 4096), "{}", out.stderr);
    epm.wait_ready("host", 1);

    // Same size, mtime put back: only the content (and the ctime) differ.
    let data = bundle.rootfs().join("data.bin");
    let original = change_one_byte_keeping_the_mtime(&data);
    let id = unique_id("epm-stale");
    let (out, log) = sim.run(&bundle, &id);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.is_empty(),
        "the changed image did not run: {out:#?}"
    );
    assert!(
        out.stderr.contains("trusted file /data.bin was modified"),
        "{out:#?}"
    );
    assert!(
        log.contains("epm gave no enclave") && log.contains("was modified"),
        "{log}"
    );
    let status = epm.status();
    assert_eq!(counter(&status, "stale"), 1, "{status:#}");
    assert_eq!(
        counter(&status, "enclaves"),
        0,
        "the image's enclaves were dropped"
    );
    sim.assert_nothing_left(&id);

    // Put back, it runs again (measured anew: the ctime moved on).
    std::fs::write(&data, &original).unwrap();
    let (out, log) = sim.run(&bundle, &unique_id("epm-restored"));
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(log.contains("hit=false"), "{log}");
}

/// The bundle's rootfs as an overlay of its signed content, as containerd's snapshotter
/// mounts one: the content moves to a lower directory, and every [`mount`](Self::mount) is a
/// new overlay (a new `st_dev`) with an empty upper directory, mounted over the ones before:
/// as with containerd's other containers, they stay mounted, so the kernel does not give the
/// new overlay the device number of the one before.
/// How [`OverlayRootfs::mount_with`] names the layers in the mount options.
#[derive(Clone, Copy)]
enum Paths {
    Absolute,
    /// containerd's way for long layer lists: relative lower directories, the upper absolute.
    RelativeLower,
    /// Docker's way for long layer lists: every directory relative.
    AllRelative,
    /// The mount API's way (kernel 6.8 on): one `lowerdir+` per layer through `fsconfig`,
    /// which mountinfo shows as one option each.
    AddedOneByOne,
}

struct OverlayRootfs {
    rootfs: PathBuf,
    lower: PathBuf,
    mounts: usize,
}

impl OverlayRootfs {
    fn new(bundle: &Bundle) -> Self {
        let rootfs = bundle.rootfs();
        let lower = bundle.path().join("layer");
        std::fs::rename(&rootfs, &lower).unwrap();
        std::fs::create_dir(&rootfs).unwrap();
        Self {
            rootfs,
            lower,
            mounts: 0,
        }
    }

    fn mount(&mut self) {
        assert!(self.mount_with(Paths::Absolute));
    }

    /// Mounts a new overlay of the layer, its directories given as `paths` says; `false` when
    /// this kernel cannot mount that way.
    fn mount_with(&mut self, paths: Paths) -> bool {
        let name = format!("overlay-{}", self.mounts + 1);
        let base = self.lower.parent().unwrap().to_owned();
        let dir = base.join(&name);
        std::fs::create_dir_all(dir.join("upper")).unwrap();
        std::fs::create_dir_all(dir.join("work")).unwrap();
        let show = |p: PathBuf| p.to_string_lossy().into_owned();
        let (lower, upper, work) = match paths {
            Paths::Absolute | Paths::AddedOneByOne => (
                show(self.lower.clone()),
                show(dir.join("upper")),
                show(dir.join("work")),
            ),
            Paths::RelativeLower => (
                "layer".to_owned(),
                show(dir.join("upper")),
                show(dir.join("work")),
            ),
            Paths::AllRelative => (
                "layer".to_owned(),
                format!("{name}/upper"),
                format!("{name}/work"),
            ),
        };
        if let Paths::AddedOneByOne = paths {
            if !self.mount_appending_layers(&lower, &upper, &work) {
                return false;
            }
        } else {
            // Relative paths are resolved against the mounter's directory, as containerd and
            // Docker do for layer lists longer than a page.
            let status = Command::new("mount")
                .current_dir(&base)
                .args(["-t", "overlay", "overlay", "-o"])
                .arg(format!("lowerdir={lower},upperdir={upper},workdir={work}"))
                .arg(&self.rootfs)
                .status()
                .unwrap();
            assert!(status.success(), "mounting the overlay rootfs");
        }
        self.mounts += 1;
        true
    }

    /// `fsopen("overlay")`, the layers added with `lowerdir+`, `fsmount` and `move_mount` onto
    /// the rootfs; `false` when the kernel has no mount API or no `lowerdir+` (before 6.8).
    fn mount_appending_layers(&self, lower: &str, upper: &str, work: &str) -> bool {
        use rustix::mount::{
            fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, FsMountFlags,
            FsOpenFlags, MountAttrFlags, MoveMountFlags,
        };
        let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
            Ok(fs) => fs,
            // No mount API here (before 5.2, or filtered by a seccomp profile).
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => return false,
            Err(e) => panic!("fsopen overlay: {e}"),
        };
        match fsconfig_set_string(&fs, "lowerdir+", lower) {
            Ok(()) => {}
            Err(rustix::io::Errno::INVAL) => return false,
            Err(e) => panic!("fsconfig lowerdir+={lower}: {e}"),
        }
        fsconfig_set_string(&fs, "upperdir", upper).expect("fsconfig upperdir");
        fsconfig_set_string(&fs, "workdir", work).expect("fsconfig workdir");
        fsconfig_create(&fs).expect("fsconfig create");
        let mount =
            fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty()).expect("fsmount");
        move_mount(
            &mount,
            "",
            rustix::fs::CWD,
            &self.rootfs,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .expect("move_mount onto the rootfs");
        true
    }
}

impl Drop for OverlayRootfs {
    fn drop(&mut self) {
        for _ in 0..self.mounts {
            let _ = Command::new("umount").arg(&self.rootfs).status();
        }
    }
}

fn hashed_bytes(log: &str) -> u64 {
    let start = log.find("hashed_bytes=").unwrap_or_else(|| panic!("{log}")) + 13;
    log[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_new_overlay_of_the_same_layers_is_not_measured_again() {
    require_root!();
    let epm = Epm::start(&[]);
    let sim = Sim::new(&epm.socket());
    let bundle = sim.bundle(&["cat", "/data.bin"], Some(1 << 20), &[]);
    let mut overlay = OverlayRootfs::new(&bundle);

    overlay.mount();
    let (out, log) = sim.run(&bundle, &unique_id("epm-ovl-first"));
    assert_eq!((out.code, out.stdout.len()), (0, 1 << 20), "{}", out.stderr);
    assert!(log.contains("hit=false"), "{log}");
    epm.wait_ready("host", 1);

    // A container's new overlay: the layer's files were measured, nothing is hashed; also when
    // the mounter named the layers relative to its own directory (containerd's and Docker's
    // way for long layer lists), which mountinfo does not show, or added them one by one.
    for (paths, name) in [
        (Paths::Absolute, "epm-ovl-next"),
        (Paths::RelativeLower, "epm-ovl-relative"),
        (Paths::AllRelative, "epm-ovl-all-relative"),
        (Paths::AddedOneByOne, "epm-ovl-added"),
    ] {
        if !overlay.mount_with(paths) {
            eprintln!(
                "skipping {name}: no mount API or no overlayfs lowerdir+ here (kernel 6.8 on)"
            );
            continue;
        }
        let (out, log) = sim.run(&bundle, &unique_id(name));
        assert_eq!((out.code, out.stdout.len()), (0, 1 << 20), "{}", out.stderr);
        assert!(log.contains("hit=true"), "{name}: {log}");
        assert_eq!(hashed_bytes(&log), 0, "{name}: {log}");
        epm.wait_ready("host", 1);
    }

    // Copied up unchanged (the mode set to what it was): a new ctime, so hashed, and accepted.
    overlay.mount();
    let data = bundle.rootfs().join("data.bin");
    let mode = std::fs::metadata(&data).unwrap().permissions();
    std::fs::set_permissions(&data, mode).unwrap();
    let (out, log) = sim.run(&bundle, &unique_id("epm-ovl-copied"));
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(hashed_bytes(&log) >= 1 << 20, "{log}");
    epm.wait_ready("host", 1);

    // Changed in a container's upper layer, same size and mtime: never served as the layer's.
    overlay.mount();
    change_one_byte_keeping_the_mtime(&data);
    let id = unique_id("epm-ovl-changed");
    let (out, log) = sim.run(&bundle, &id);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.is_empty(),
        "the changed file did not run: {out:#?}"
    );
    assert!(log.contains("was modified"), "{log}");
    sim.assert_nothing_left(&id);
}

#[test]
fn epm_killed_in_the_middle_of_a_handover_leaves_nothing_and_the_container_starts() {
    require_root!();
    let mut epm = Epm::start(&[]);
    let sim = Sim::new(&epm.socket());
    // Large enough that measuring it takes a while: epm is killed while doing so.
    let bundle = sim.bundle(&["echo", "started"], Some(192 << 20), &[]);
    let id = unique_id("epm-killed");
    let mut rune = sim.rt.command(&[
        "--log",
        &sim.logs.path().join("killed.log").to_string_lossy(),
        "run",
        "--bundle",
        &bundle.path().to_string_lossy(),
        &id,
    ]);
    let rune = rune
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || epm
            .log()
            .contains("no ready enclave: building one")),
        "{}",
        epm.log()
    );
    epm.kill();
    let out = rune.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "started\n");
    assert!(
        !epm.log().contains("enclave handed over"),
        "epm was killed before it handed anything over: {}",
        epm.log()
    );
    let log = std::fs::read_to_string(sim.logs.path().join("killed.log")).unwrap();
    assert!(log.contains("epm gave no enclave"), "{log}");
    sim.assert_nothing_left(&id);

    // epm down (its socket left behind): rune works without it, with one log line.
    let id = unique_id("epm-down");
    let (out, log) = sim.run(&bundle, &id);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "started\n"),
        "{out:#?}"
    );
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            [
                "epm is not running",
                "epm gave no enclave",
                "by epm",
                "epm handover",
            ]
            .iter()
            .any(|m| l.contains(m))
        })
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("epm is not running at") && lines[0].contains("without the pool"),
        "{log}"
    );
    sim.assert_nothing_left(&id);

    // A new epm replaces the stale socket, and the pool serves again.
    epm.restart();
    let (out, log) = sim.run(&bundle, &unique_id("epm-back"));
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(log.contains("enclave handed over by epm"), "{log}");
}

#[test]
fn no_epm_in_the_runtime_args_opts_out() {
    require_root!();
    let epm = Epm::start(&[]);
    let sim = Sim::new(&epm.socket());
    let bundle = sim.bundle(&["echo", "alone"], None, &["ENCLAVE_RUNTIME_ARGS=no-epm"]);
    let (out, log) = sim.run(&bundle, &unique_id("epm-optout"));
    assert_eq!((out.code, out.stdout.as_str()), (0, "alone\n"), "{out:#?}");
    assert!(!out.stderr.contains("epm handover"), "{out:#?}");
    assert!(!log.contains("handed over"), "{log}");
    let status = epm.status();
    assert_eq!(
        (counter(&status, "hits"), counter(&status, "misses")),
        (0, 0)
    );
}
