//! Shared helpers: the worker binary, the lock that keeps chaos runs from sharing two cores,
//! scratch directories, and the check that a run left no process behind.

use std::path::{Path, PathBuf};

/// The loudfail binary Cargo built for these tests (the cluster and task processes).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loudfail"))
}

/// Chaos runs measure latencies against bounds; two of them at once on a 2-core machine would
/// measure each other. Every test that runs a scenario holds this lock.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh, unique directory that does not exist yet.
pub fn scratch(name: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loudfail-tests");
    std::fs::create_dir_all(&base).unwrap();
    let p = base.join(format!("{name}-{}-{}", std::process::id(), harness::time::now_us()));
    assert!(!p.exists());
    p
}

/// A spec file in a scratch directory named for `name`, from the Python example's with `edit`
/// applied.
pub fn spec_with(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-pipeline/loudfail.toml");
    let dir = scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("loudfail.toml");
    std::fs::write(&path, edit(std::fs::read_to_string(example).unwrap())).unwrap();
    path
}

/// Processes whose command line or environment mentions `dir` (every cluster and task of a run
/// is started with `--run-dir <dir>`; a program gets its tables' locations, inside it), other
/// than this test process.
pub fn processes_mentioning(dir: &Path) -> Vec<(u32, String)> {
    let needle = dir.display().to_string();
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if cmd.contains(&needle) || String::from_utf8_lossy(&environ).contains(&needle) {
            out.push((pid, cmd));
        }
    }
    out
}

/// Asserts that nothing of the run in `dir` is still running, and that no memory cgroup of a
/// harness that has ended — this test's own, or a loudfail process it started — is left.
pub fn assert_nothing_left(dir: &Path) {
    let left = processes_mentioning(dir);
    assert!(left.is_empty(), "processes left behind by the run in {}: {left:?}", dir.display());
    let me = std::process::id();
    let cgroups: Vec<_> = harness::memlimit::loudfail_cgroups()
        .into_iter()
        .filter(|(pid, _)| *pid == me || !Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    assert!(cgroups.is_empty(), "memory cgroups left behind by the run in {}: {cgroups:?}", dir.display());
}

/// Runs `loudfail run ARGS --dir <scratch>` and sends it Ctrl-C once its history contains
/// `moment`; asserts it exits 130 with nothing left running and its history kept. Returns the
/// run directory, and the processes of the run that were running when Ctrl-C was sent.
pub async fn interrupt(name: &str, args: &[&str], moment: &str) -> (PathBuf, Vec<(u32, String)>) {
    let dir = scratch(name);
    let mut child = std::process::Command::new(bin())
        .arg("run")
        .args(args)
        .args(["--dir", dir.to_str().unwrap()])
        .spawn()
        .expect("loudfail runs");
    let history = dir.join("history.jsonl");
    let reached = await_file_contains(&history, moment, std::time::Duration::from_secs(180)).await;
    assert!(reached, "the run never reached {moment}");
    let running = processes_mentioning(&dir);
    assert!(!running.is_empty(), "cluster and task should be running");
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_nothing_left(&dir);
    assert!(history.is_file(), "the run directory keeps what was recorded");
    (dir, running)
}

/// Waits until `cond` holds, looking every 50 ms; false after `timeout`.
pub async fn await_condition(timeout: std::time::Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while !cond() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    true
}

/// SIGKILLs the harness `child` running a run in `dir`: it cannot clean up, its reaper must.
/// Waits (at most 20 s) until no process of the run is left, no memory cgroup of the harness,
/// and `also` holds; then asserts that nothing is left.
pub async fn sigkill_and_await_reaper(child: &mut std::process::Child, dir: &Path, also: impl Fn() -> bool) {
    let harness = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    let cgroups = || harness::memlimit::loudfail_cgroups().into_iter().filter(|(p, _)| *p == harness).count();
    let clean = || processes_mentioning(dir).is_empty() && cgroups() == 0 && also();
    await_condition(std::time::Duration::from_secs(20), clean).await;
    assert_nothing_left(dir);
    assert_eq!(cgroups(), 0, "the killed harness's cgroups are left");
}

/// Waits until `path` contains `needle`, re-reading it whenever it may have grown. Returns false
/// after `timeout`.
pub async fn await_file_contains(path: &Path, needle: &str, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    let mut seen_len = 0;
    while std::time::Instant::now() < deadline {
        if let Ok(meta) = std::fs::metadata(path)
            && meta.len() as usize != seen_len
        {
            seen_len = meta.len() as usize;
            if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
                return true;
            }
        }
        // The file is written by another process; there is no event to await but its growth.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// Runs `fault` on `pipeline` in `topology`, holding [`SERIAL`], in a fresh directory named
/// after `name`; checks that nothing of the run is left running and returns its report.
pub async fn run_scenario(
    pipeline: &str,
    fault: &str,
    topology: harness::Topology,
    seed: u64,
    name: &str,
) -> harness::Report {
    let _serial = SERIAL.lock().await;
    let dir = scratch(name);
    let report = harness::Scenario::new(suites::registry().get(pipeline).unwrap())
        .topology(topology)
        .fault(suites::faults().get(fault).unwrap())
        .seed(seed)
        .bin(bin())
        .dir(&dir)
        .run()
        .await
        .expect("the scenario is valid input");
    assert_nothing_left(&dir);
    assert_eq!(harness::process::live_count(), 0, "the process registry still lists children");
    report
}

/// Asserts the run is LOUD+RESTARTED (so nothing was lost or duplicated: those findings come
/// first) and returns its analysis.
pub fn assert_loud_restarted(report: &harness::Report) -> &harness::Analysis {
    assert_eq!(*report.verdict(), harness::Verdict::LoudRestarted, "{}", report.render());
    &report.analysis
}

/// Asserts the run is SILENT, stalled in `query` for at least the observation horizon.
pub fn assert_silent_in(report: &harness::Report, query: &str) {
    assert!(matches!(report.verdict(), harness::Verdict::Silent(_)), "{}", report.render());
    let silence = report.analysis.silence.as_ref().expect("a silent window");
    assert_eq!(silence.query, query, "{}", report.render());
    assert!(
        report.silent_window() >= report.horizon,
        "window {:?} < horizon {:?}\n{}",
        report.silent_window(),
        report.horizon,
        report.render()
    );
}

/// The error the fault caused, as the query reported it.
pub fn effect_error(report: &harness::Report) -> String {
    let history = harness::history::History::read(&report.dir.join("history.jsonl")).unwrap();
    history
        .iter()
        .find_map(|r| match &r.event {
            harness::history::Event::FaultEffect { error, .. } => Some(error.clone()),
            _ => None,
        })
        .expect("the fault took effect")
}

/// Runs an example's own setup script (`<dir>/setup.sh`, the one `ci/setup.sh` runs) once per
/// test binary, so `cargo test` alone works on a fresh machine.
pub fn setup_example(dir: &Path, once: &'static std::sync::Once) {
    once.call_once(|| {
        let setup = dir.join("setup.sh");
        let out = std::process::Command::new("bash").arg(&setup).output().expect("bash runs");
        assert!(
            out.status.success(),
            "{} failed:\n{}{}",
            setup.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}
