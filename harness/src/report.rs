//! The report of one run: verdict, figures, artifacts, and the one command that replays it.

use crate::error::Result;
use crate::fault::Expectation;
use crate::oracle::{Analysis, Verdict};
use crate::rundir::write_json_atomic;
use crate::time::{TimeScale, human};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Exit code of a passing run.
pub const EXIT_PASS: i32 = 0;
/// Exit code of a failing verdict.
pub const EXIT_FAIL: i32 = 1;
/// Exit code of bad input or a harness error.
pub const EXIT_ERROR: i32 = 2;

/// The report of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The run's id.
    pub run_id: String,
    /// Its artifacts.
    pub dir: PathBuf,
    /// Its seed.
    pub seed: u64,
    /// The pipeline.
    pub pipeline: String,
    /// The topology.
    pub topology: String,
    /// The faults injected.
    pub faults: Vec<String>,
    /// What the topology was expected to make of them.
    pub expected: Option<Expectation>,
    /// The time scale.
    pub scale: TimeScale,
    /// Detection bound, real.
    pub detection_bound: Duration,
    /// Restart bound, real.
    pub restart_bound: Duration,
    /// Observation horizon, real.
    pub horizon: Duration,
    /// What the oracles found.
    pub analysis: Analysis,
    /// Wall time of the run.
    pub wall: Duration,
    /// Peak resident memory of the run's processes together (harness and children), bytes.
    #[serde(default)]
    pub peak_memory: u64,
    /// Peak resident memory of the harness alone (the rest is the pipeline's processes), bytes.
    #[serde(default)]
    pub harness_memory: u64,
    /// CPU time the harness used during the run, and the run's processes (clusters, tasks, a
    /// program's), in µs.
    #[serde(default)]
    pub cpu_us: CpuUse,
    /// Clusters that ran under a memory limit: the most memory any one of them was charged
    /// (memory cgroups only), and the limit, in bytes.
    #[serde(default)]
    pub cluster_memory: Option<ClusterMemory>,
    /// The command that replays it.
    pub replay: String,
}

/// CPU time of a run, in µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUse {
    /// The harness process (broker, observer, workload, oracles).
    pub harness: u64,
    /// Every process the run started.
    pub processes: u64,
}

/// How close the clusters came to their memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMemory {
    /// The limit, bytes.
    pub limit: u64,
    /// How it was enforced.
    pub mechanism: crate::memlimit::Mechanism,
    /// The most one cluster was charged, bytes (known under a memory cgroup only).
    pub peak: Option<u64>,
}

impl ClusterMemory {
    /// What the history shows of cluster memory: None when no cluster ran under a limit.
    pub fn from_history(records: &[crate::history::Record]) -> Option<ClusterMemory> {
        use crate::history::{Event, Role};
        let mut out: Option<ClusterMemory> = None;
        for r in records {
            match &r.event {
                Event::MemoryLimit { bytes, mechanism, .. } => {
                    let peak = out.and_then(|m| m.peak);
                    out = Some(ClusterMemory { limit: *bytes, mechanism: *mechanism, peak });
                }
                Event::ProcessExited { role: Role::Cluster, memory_peak: Some(p), .. } => {
                    if let Some(m) = out.as_mut() {
                        m.peak = Some(m.peak.unwrap_or(0).max(*p));
                    }
                }
                _ => {}
            }
        }
        out
    }
}

impl Report {
    /// Judges a run again from its directory, offline: its `history.jsonl` is analysed afresh by
    /// this version's oracles — the deterministic half of a replay, and how an oracle change is
    /// checked against old runs. What a history does not hold (the scenario's names and
    /// expectation, wall time, memory) comes from the `report.json` the run saved.
    pub fn judge(dir: &std::path::Path) -> Result<Report> {
        let not_a_run = |what: &str| {
            crate::error::HarnessError::bad_input(
                format!("{} is not a run directory that can be judged: {what}", dir.display()),
                "pass a directory a finished `loudfail run` (or a matrix cell, an explored run) wrote: it holds history.jsonl and report.json",
            )
        };
        let history = dir.join("history.jsonl");
        let saved = dir.join("report.json");
        if !history.is_file() {
            return Err(not_a_run("it has no history.jsonl"));
        }
        if !saved.is_file() {
            return Err(not_a_run("it has no report.json (was the run interrupted before its end?)"));
        }
        let text = std::fs::read_to_string(&saved).map_err(|e| crate::error::HarnessError::io(&saved, e))?;
        let mut report: Report = serde_json::from_str(&text)
            .map_err(|e| crate::error::HarnessError::json(saved.display().to_string(), e))?;
        let records = crate::history::History::read(&history)?;
        report.analysis = crate::oracle::analyze(&records);
        if let Some(b) = crate::oracle::Bounds::of(&records) {
            report.restart_bound = Duration::from_micros(b.restart_us.max(0) as u64);
        }
        report.dir = dir.to_path_buf();
        Ok(report)
    }

    /// The verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.analysis.verdict
    }

    /// Whether the verdict is what the topology was expected to produce.
    pub fn as_expected(&self) -> Option<bool> {
        let e = self.expected?;
        Some(matches!(
            (e, self.verdict()),
            (Expectation::LoudRestarted, Verdict::LoudRestarted)
                | (Expectation::Silent, Verdict::Silent(_))
                | (Expectation::Loss, Verdict::Loss(_))
                | (Expectation::Collateral, Verdict::Collateral(_))
                | (Expectation::Absorbed, Verdict::Clean)
        ))
    }

    /// 0 for LOUD+RESTARTED (or CLEAN), 1 for a failing verdict, 2 for a harness error.
    pub fn exit_code(&self) -> i32 {
        match self.verdict() {
            Verdict::Error(_) => EXIT_ERROR,
            v if v.passed() => EXIT_PASS,
            _ => EXIT_FAIL,
        }
    }

    /// Writes `report.json` ([`crate::junit::write_run`] writes its `junit.xml`).
    pub fn save(&self) -> Result<()> {
        write_json_atomic(&self.dir.join("report.json"), self)
    }

    /// What a test report calls this run: topology and faults.
    pub fn case_name(&self) -> String {
        let faults = if self.faults.is_empty() { "no fault".to_string() } else { self.faults.join(" + ") };
        format!("{} under {faults}", self.topology)
    }

    /// Detection latency of the first fault.
    pub fn detection(&self) -> Option<Duration> {
        self.analysis.faults.first()?.detection_us.map(us)
    }

    /// Restart latency of the first fault.
    pub fn restart(&self) -> Option<Duration> {
        self.analysis.faults.first()?.restart_us.map(us)
    }

    /// The longest silent window.
    pub fn silent_window(&self) -> Duration {
        self.analysis.silence.as_ref().map(|s| s.duration()).unwrap_or_default()
    }

    /// The verdict table a person reads.
    pub fn render(&self) -> String {
        let a = &self.analysis;
        let nominal = |d: Duration| {
            if self.scale.factor < 1.0 {
                format!(" (= {} nominal)", human(self.scale.nominal(d)))
            } else {
                String::new()
            }
        };
        let opt = |d: Option<Duration>| d.map(human).unwrap_or_else(|| "—".into());
        let mut s = String::new();
        let _ = writeln!(s, "loudfail run {}  (seed {})", self.run_id, self.seed);
        let _ = writeln!(s, "  pipeline    {}", self.pipeline);
        let _ = writeln!(s, "  topology    {}", self.topology);
        let _ = writeln!(
            s,
            "  fault       {}",
            if self.faults.is_empty() { "none".into() } else { self.faults.join(", ") }
        );
        if let Some(e) = self.expected {
            let _ = writeln!(s, "  expected    {e}");
        }
        let mark = match self.as_expected() {
            Some(true) => "  (as expected)",
            Some(false) => "  (NOT as expected)",
            None => "",
        };
        let _ = writeln!(s, "\n  VERDICT     {}{mark}\n", self.verdict());
        row(&mut s, "figure", "measured", "bound");
        for f in &a.faults {
            row(&mut s, "fault took effect", &format!("{} in {} ({})", f.error_kind, f.query, f.fault), "");
            row(&mut s, "detection latency", &opt(f.detection_us.map(us)), &human(self.detection_bound));
            row(&mut s, "  first loud state", f.loud_state.as_deref().unwrap_or("none"), "");
            row(&mut s, "restart latency", &opt(f.restart_us.map(us)), &human(self.restart_bound));
            let _ = writeln!(s, "  {:<28} {}", "  queries affected", f.affected.join(", "));
            let _ =
                writeln!(s, "  {:<28} {} task(s): {}", "blast radius", f.blast_radius.len(), f.blast_radius.join(", "));
            if !f.collateral.is_empty() {
                let _ = writeln!(s, "  {:<28} {}", "  beyond the fault's reach", f.collateral.join(", "));
            }
        }
        match &a.silence {
            Some(sw) => {
                let _ = writeln!(
                    s,
                    "  {:<28} {}{} in {}",
                    "longest silent window",
                    human(sw.duration()),
                    nominal(sw.duration()),
                    sw.query
                );
                if !a.states_during_silence.is_empty() {
                    let _ = writeln!(s, "  {:<28} {}", "  states shown meanwhile", a.states_during_silence.join(", "));
                }
            }
            None => {
                let _ = writeln!(s, "  {:<28} none", "longest silent window");
            }
        }
        let _ = writeln!(
            s,
            "  {:<28} {}",
            "observation horizon",
            format_args!("{}{}", human(self.horizon), nominal(self.horizon))
        );
        let _ = writeln!(s, "  {:<28} {}", "runs of the job", a.runs);
        if a.retrying_while_running_us > 0 {
            let d = us(a.retrying_while_running_us);
            let _ = writeln!(s, "  {:<28} {}{}", "retrying while RUNNING", human(d), nominal(d));
        }
        let _ = writeln!(
            s,
            "  {:<28} {} missing, {} duplicated, {} unexpected",
            "exactly once", a.missing, a.duplicated, a.unexpected
        );
        for t in &a.audits {
            // Where flows share a sink (a program's fan-in), each line names its own.
            let shared = a.audits.iter().filter(|o| o.table == t.table).count() > 1;
            let _ = writeln!(s, "    {}", audit_line(t, shared));
            for (what, ids) in &t.samples {
                let _ = writeln!(s, "      {what}: {}", ids.join(", "));
            }
        }
        for e in &a.errors {
            let _ = writeln!(s, "  harness error: {e}");
        }
        for help in &a.error_help {
            let _ = writeln!(s, "  help: {help}");
        }
        if let Some(m) = &self.cluster_memory {
            let peak = m.peak.map(|p| format!("{} MiB", p >> 20)).unwrap_or_else(|| "not measured".into());
            let _ = writeln!(
                s,
                "  {:<28} {peak} at most, of a {} MiB limit ({:?})",
                "cluster memory charged",
                m.limit >> 20,
                m.mechanism
            );
        }
        let _ = writeln!(
            s,
            "\n  wall time   {}   peak memory {} MiB (every process of the run together; the harness {} MiB)",
            human(self.wall),
            self.peak_memory >> 20,
            self.harness_memory >> 20
        );
        let _ = writeln!(
            s,
            "  cpu time    harness {}, the run's processes {}",
            human(Duration::from_micros(self.cpu_us.harness)),
            human(Duration::from_micros(self.cpu_us.processes))
        );
        let _ = writeln!(
            s,
            "  artifacts   {}  (history.jsonl, report.json, junit.xml, timeline.html, logs/)",
            self.dir.display()
        );
        if self.exit_code() != EXIT_PASS {
            let _ = writeln!(s, "  replay      {}", self.replay);
        }
        s
    }
}

/// A sink's audit in a line: its table, what is present of what was expected, what is there
/// twice, and where the audit checked resolutions, what was resolved and is still open.
fn audit_line(t: &crate::history::TableAudit, shared: bool) -> String {
    let extra = if t.unresolved > 0 || t.resolutions {
        format!(", {} resolved alerts still open", t.unresolved)
    } else {
        String::new()
    };
    let name = if shared { format!("{} ← {}", t.table, t.query) } else { t.table.clone() };
    format!("{name:<26} {}/{} present, {} duplicated{extra}", t.present, t.expected, t.duplicated)
}

/// One line of the figures table: label, what was measured, the bound it is judged by.
fn row(s: &mut String, label: &str, measured: &str, bound: &str) {
    let _ = writeln!(s, "  {label:<28} {measured:<24} {bound}");
}

fn us(v: i64) -> Duration {
    Duration::from_micros(v.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::TableAudit;

    #[test]
    fn resolutions_are_reported_only_where_the_audit_checked_them() {
        let audit = |table: &str, resolutions| TableAudit {
            table: table.into(),
            expected: 10,
            present: 10,
            resolutions,
            ..TableAudit::default()
        };
        // A program's table is audited by its ids, whatever it is called.
        let line = audit_line(&audit("alerts", false), false);
        assert!(!line.contains("resolved"), "{line}");
        assert!(audit_line(&audit("alerts", true), false).ends_with("0 duplicated, 0 resolved alerts still open"));
    }

    #[test]
    fn flows_sharing_a_sink_are_told_apart() {
        let audit = TableAudit { table: "events".into(), query: "clicks".into(), ..TableAudit::default() };
        assert!(audit_line(&audit, true).starts_with("events ← clicks "), "{}", audit_line(&audit, true));
        assert!(audit_line(&audit, false).starts_with("events "));
    }
}
