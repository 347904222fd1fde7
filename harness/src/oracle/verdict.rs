//! The verdict: a precedence over what the oracles found.

use super::Bounds;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A cell's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "detail")]
pub enum Verdict {
    /// Every fault failed loudly and the job restarted; nothing lost or duplicated.
    #[serde(rename = "LOUD+RESTARTED")]
    LoudRestarted,
    /// A fault went unnoticed; the longest silent window, in µs.
    #[serde(rename = "SILENT")]
    Silent(i64),
    /// Loud, but the affected queries did not progress again in time.
    #[serde(rename = "LOUD-NOT-RESTARTED")]
    LoudNotRestarted,
    /// Records missing from their sinks.
    #[serde(rename = "LOSS")]
    Loss(u64),
    /// Records in their sinks more than once.
    #[serde(rename = "DUPLICATES")]
    Duplicates(u64),
    /// The fault disrupted tasks beyond its reach.
    #[serde(rename = "COLLATERAL")]
    Collateral(Vec<String>),
    /// No fault, no silence, nothing lost or duplicated.
    #[serde(rename = "CLEAN")]
    Clean,
    /// A harness or infrastructure problem: no verdict on the pipeline.
    #[serde(rename = "ERROR")]
    Error(String),
}

impl Verdict {
    /// True for the verdicts a user's gate accepts.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::LoudRestarted | Verdict::Clean)
    }

    /// The verdict's name without figures.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::LoudRestarted => "LOUD+RESTARTED",
            Verdict::Silent(_) => "SILENT",
            Verdict::LoudNotRestarted => "LOUD-NOT-RESTARTED",
            Verdict::Loss(_) => "LOSS",
            Verdict::Duplicates(_) => "DUPLICATES",
            Verdict::Collateral(_) => "COLLATERAL",
            Verdict::Clean => "CLEAN",
            Verdict::Error(_) => "ERROR",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Silent(us) => write!(f, "SILENT({})", crate::time::human(Duration::from_micros(*us as u64))),
            Verdict::Loss(n) => write!(f, "LOSS({n})"),
            Verdict::Duplicates(n) => write!(f, "DUPLICATES({n})"),
            Verdict::Collateral(tasks) => write!(f, "COLLATERAL({})", tasks.join(", ")),
            Verdict::Error(e) => write!(f, "ERROR({e})"),
            other => f.write_str(other.name()),
        }
    }
}

/// What a verdict is decided from: each oracle's finding, reduced to what the precedence needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// The first harness error.
    pub error: Option<String>,
    /// Records missing from their sinks, or resolved alerts still open.
    pub lost: u64,
    /// Records in their sinks more than once.
    pub duplicated: u64,
    /// Whether any fault took effect.
    pub faults: bool,
    /// Whether a fault was not followed, within the detection bound, by a loud state.
    pub quiet: bool,
    /// The longest silent window, in µs.
    pub silent_us: i64,
    /// Whether a loud fault's queries did not progress again within the restart bound.
    pub not_restarted: bool,
    /// Tasks a fault disrupted beyond its reach.
    pub collateral: Option<Vec<String>>,
    /// The longest stall without a sound that began after the job had recovered from every
    /// fault, in µs: a relapse no fault explains (a program that deadlocked later).
    pub relapsed_us: i64,
}

impl Findings {
    /// The verdict, by precedence: a harness error is no verdict at all; then what the world
    /// lost or holds twice, whatever else happened (a write that landed where no reader looks
    /// is LOSS, a replay that landed twice is DUPLICATES, loud or not); then a fault nobody saw
    /// that stalled a query (SILENT); then a loud fault the job did not recover from; then a
    /// fault nobody saw that did no visible harm (still SILENT, with its short window: every
    /// fault must fail loudly); then a stall nobody heard after the job had recovered from
    /// every fault, longer than a lull (SILENT: the fault does not explain it); then
    /// collateral; then a run without faults that stalled.
    pub fn verdict(&self, bounds: &Bounds) -> Verdict {
        if let Some(e) = &self.error {
            Verdict::Error(e.clone())
        } else if self.lost > 0 {
            Verdict::Loss(self.lost)
        } else if self.duplicated > 0 {
            Verdict::Duplicates(self.duplicated)
        } else if self.quiet && self.silent_us > bounds.detection_us {
            Verdict::Silent(self.silent_us)
        } else if self.not_restarted {
            Verdict::LoudNotRestarted
        } else if self.quiet {
            Verdict::Silent(self.silent_us)
        } else if self.relapsed_us > bounds.stall_us {
            Verdict::Silent(self.relapsed_us)
        } else if let Some(c) = &self.collateral {
            Verdict::Collateral(c.clone())
        } else if !self.faults && self.silent_us > bounds.silence_us {
            Verdict::Silent(self.silent_us)
        } else if !self.faults {
            Verdict::Clean
        } else {
            Verdict::LoudRestarted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdict's precedence, as a table over every pair of findings: each finding alone,
    /// and any two together, give the verdict the table names. Rows and columns: a harness
    /// error (E), records lost (L), duplicated (D), a fault nobody saw with a long stall (Q), a
    /// loud fault the job did not recover from (N), a fault nobody saw with a short window (q),
    /// a stall nobody heard after the job recovered from every fault (R), collateral (C), a stall in a run without faults (S), a loud fault recovered from (F),
    /// nothing (0).
    #[test]
    fn the_verdict_is_a_precedence_over_every_pair_of_findings() {
        let bounds =
            Bounds { detection_us: 250_000, restart_us: 1_000_000, stall_us: 1_000_000, silence_us: 1_000_000 };
        let atoms: [(&str, Findings); 11] = [
            ("E", Findings { error: Some("boom".into()), ..Findings::default() }),
            ("L", Findings { lost: 3, ..Findings::default() }),
            ("D", Findings { duplicated: 2, ..Findings::default() }),
            ("Q", Findings { faults: true, quiet: true, silent_us: 5_000_000, ..Findings::default() }),
            ("N", Findings { faults: true, not_restarted: true, ..Findings::default() }),
            ("q", Findings { faults: true, quiet: true, silent_us: 100_000, ..Findings::default() }),
            ("R", Findings { faults: true, relapsed_us: 3_000_000, ..Findings::default() }),
            ("C", Findings { faults: true, collateral: Some(vec!["ingest".into()]), ..Findings::default() }),
            ("S", Findings { silent_us: 2_000_000, ..Findings::default() }),
            ("F", Findings { faults: true, ..Findings::default() }),
            ("0", Findings::default()),
        ];
        // Row × column (upper triangle; the table is symmetric). A stall in a run without
        // faults (S) is no silence once a fault explains it: with a loud fault it is that
        // fault's (F), with a quiet one it lengthens its window (q: SILENT past detection).
        // Rows and columns: E L D Q N q R C S F 0 (upper triangle; the table is symmetric).
        #[rustfmt::skip]
        let table: [[&str; 11]; 11] = [
            ["ERROR", "ERROR", "ERROR", "ERROR", "ERROR", "ERROR", "ERROR", "ERROR", "ERROR", "ERROR", "ERROR"],
            ["", "LOSS", "LOSS", "LOSS", "LOSS", "LOSS", "LOSS", "LOSS", "LOSS", "LOSS", "LOSS"],
            ["", "", "DUPLICATES", "DUPLICATES", "DUPLICATES", "DUPLICATES", "DUPLICATES", "DUPLICATES", "DUPLICATES", "DUPLICATES", "DUPLICATES"],
            ["", "", "", "SILENT", "SILENT", "SILENT", "SILENT", "SILENT", "SILENT", "SILENT", "SILENT"],
            ["", "", "", "", "LOUD-NOT-RESTARTED", "LOUD-NOT-RESTARTED", "LOUD-NOT-RESTARTED", "LOUD-NOT-RESTARTED", "LOUD-NOT-RESTARTED", "LOUD-NOT-RESTARTED", "LOUD-NOT-RESTARTED"],
            ["", "", "", "", "", "SILENT", "SILENT", "SILENT", "SILENT", "SILENT", "SILENT"],
            ["", "", "", "", "", "", "SILENT", "SILENT", "SILENT", "SILENT", "SILENT"],
            ["", "", "", "", "", "", "", "COLLATERAL", "COLLATERAL", "COLLATERAL", "COLLATERAL"],
            ["", "", "", "", "", "", "", "", "SILENT", "LOUD+RESTARTED", "SILENT"],
            ["", "", "", "", "", "", "", "", "", "LOUD+RESTARTED", "LOUD+RESTARTED"],
            ["", "", "", "", "", "", "", "", "", "", "CLEAN"],
        ];
        let both = |a: &Findings, b: &Findings| Findings {
            error: a.error.clone().or(b.error.clone()),
            lost: a.lost.max(b.lost),
            duplicated: a.duplicated.max(b.duplicated),
            faults: a.faults || b.faults,
            quiet: a.quiet || b.quiet,
            silent_us: a.silent_us.max(b.silent_us),
            not_restarted: a.not_restarted || b.not_restarted,
            collateral: a.collateral.clone().or(b.collateral.clone()),
            relapsed_us: a.relapsed_us.max(b.relapsed_us),
        };
        let mut wrong = Vec::new();
        for (i, (a, fa)) in atoms.iter().enumerate() {
            for (j, (b, fb)) in atoms.iter().enumerate().skip(i) {
                for (x, y) in [(fa, fb), (fb, fa)] {
                    let got = both(x, y).verdict(&bounds);
                    if got.name() != table[i][j] {
                        wrong.push(format!("{a}+{b}: {got}, the table says {}", table[i][j]));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // The figures travel with the verdict.
        assert_eq!(atoms[1].1.verdict(&bounds), Verdict::Loss(3));
        assert_eq!(both(&atoms[3].1, &atoms[8].1).verdict(&bounds), Verdict::Silent(5_000_000));
        assert_eq!(atoms[6].1.verdict(&bounds), Verdict::Silent(3_000_000));
        assert_eq!(atoms[7].1.verdict(&bounds), Verdict::Collateral(vec!["ingest".into()]));
    }
}
