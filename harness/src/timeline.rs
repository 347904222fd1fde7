//! The HTML timeline of a run (`timeline.html`), for people who would rather look than read: a
//! lane per run, task, cluster and query; fault periods shaded across every lane; the silent
//! window marked on the query that stalled; restarts, failures and kills marked where they
//! happened. One self-contained file (inline SVG, no scripts); hover for details.

use crate::error::{HarnessError, Result};
use crate::history::{Event, Record, Role, RunState, TaskState};
use crate::report::Report;
use crate::time::human;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

const WIDTH: f64 = 1100.0;
const LABEL: f64 = 190.0;
const LANE: f64 = 26.0;
const TOP: f64 = 40.0;

/// A coloured interval on a lane.
struct Span {
    from: i64,
    to: Option<i64>,
    colour: &'static str,
    title: String,
}

/// A point on a lane.
struct Mark {
    at: i64,
    colour: &'static str,
    shape: Shape,
    title: String,
}

#[derive(Clone, Copy)]
enum Shape {
    /// A thin line: a committed batch.
    Tick,
    /// A triangle: something started.
    Start,
    /// A cross: something failed or was killed.
    Cross,
}

#[derive(Default)]
struct Lane {
    spans: Vec<Span>,
    marks: Vec<Mark>,
}

impl Lane {
    /// Starts a span, ending the one before.
    fn switch(&mut self, at: i64, colour: &'static str, title: String) {
        self.end(at);
        self.spans.push(Span { from: at, to: None, colour, title });
    }

    fn end(&mut self, at: i64) {
        if let Some(last) = self.spans.last_mut()
            && last.to.is_none()
        {
            last.to = Some(at);
        }
    }
}

fn run_colour(s: RunState) -> &'static str {
    match s {
        RunState::Pending => "#c9c9c9",
        RunState::Running => "#5cb85c",
        RunState::Failed => "#d9534f",
        RunState::Succeeded => "#2e8b57",
        RunState::Terminated => "#6c7a89",
    }
}

fn task_colour(s: TaskState) -> &'static str {
    match s {
        TaskState::Pending => "#c9c9c9",
        TaskState::Running => "#5cb85c",
        TaskState::Retrying => "#f0ad4e",
        TaskState::Failed => "#d9534f",
        TaskState::Succeeded => "#2e8b57",
        TaskState::Terminated => "#6c7a89",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders the timeline of `records` with the findings of `report`.
pub fn render(records: &[Record], report: &Report) -> String {
    let start = records.first().map(|r| r.at).unwrap_or(0);
    let end = records.iter().map(|r| r.at).max().unwrap_or(start).max(start + 1);
    let x = |at: i64| LABEL + (at - start).clamp(0, end - start) as f64 / (end - start) as f64 * (WIDTH - LABEL - 10.0);

    let mut lanes: Vec<(String, Lane)> = vec![("job".into(), Lane::default())];
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut lane = |lanes: &mut Vec<(String, Lane)>, name: String| -> usize {
        *index.entry(name.clone()).or_insert_with(|| {
            lanes.push((name, Lane::default()));
            lanes.len() - 1
        })
    };
    // Shaded across every lane: (from, to, colour, title).
    let mut bands: Vec<(i64, Option<i64>, &'static str, String)> = Vec::new();
    // Vertical lines across every lane.
    let mut rules: Vec<(i64, &'static str, String)> = Vec::new();

    for r in records {
        match &r.event {
            Event::RunState { run, state } => {
                lanes[0].1.switch(r.at, run_colour(*state), format!("run {run} {}", state.name()));
                if *state == RunState::Pending && *run > 1 {
                    rules.push((r.at, "#337ab7", format!("run {run} starts")));
                }
            }
            Event::TaskState { run, task, attempt, state, reason } => {
                let i = lane(&mut lanes, format!("task {task}"));
                let why = reason.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
                let title = format!("run {run}, attempt {attempt}: {}{why}", state.name());
                lanes[i].1.switch(r.at, task_colour(*state), title);
            }
            Event::ProcessStarted { role: Role::Cluster, name, run, pid } => {
                let i = lane(&mut lanes, format!("cluster {name}"));
                lanes[i].1.switch(r.at, "#8fb8de", format!("{name}, run {run}, pid {pid}: alive"));
            }
            Event::ProcessExited { role: Role::Cluster, name, run, code, signal, .. } => {
                let i = lane(&mut lanes, format!("cluster {name}"));
                lanes[i].1.end(r.at);
                if code != &Some(0) {
                    let how = match (code, signal) {
                        (_, Some(s)) => format!("killed by signal {s}"),
                        (Some(c), None) => format!("exited with {c}"),
                        _ => "ended".into(),
                    };
                    let title = format!("{name}, run {run}: {how}");
                    lanes[i].1.marks.push(Mark { at: r.at, colour: "#555", shape: Shape::Cross, title });
                }
            }
            Event::OutOfMemory { name, run, mechanism } => {
                let i = lane(&mut lanes, format!("cluster {name}"));
                let title = format!("{name}, run {run}: out of memory ({mechanism:?})");
                lanes[i].1.marks.push(Mark { at: r.at, colour: "#d9534f", shape: Shape::Cross, title });
            }
            Event::QueryStarted { query, cluster, run } => {
                let i = lane(&mut lanes, format!("query {query}"));
                let title = format!("{query} started on {cluster}, run {run}");
                lanes[i].1.marks.push(Mark { at: r.at, colour: "#2e7d32", shape: Shape::Start, title });
            }
            Event::BatchCommitted { query, batch, rows, skipped: false, replayed } => {
                let i = lane(&mut lanes, format!("query {query}"));
                let again = if *replayed { " (replayed)" } else { "" };
                let title = format!("{query} committed batch {batch}{again}: {rows} rows");
                lanes[i].1.marks.push(Mark { at: r.at, colour: "#1b5e20", shape: Shape::Tick, title });
            }
            Event::QueryTerminated { query, error: Some(error), error_kind, .. } => {
                let i = lane(&mut lanes, format!("query {query}"));
                let title = format!("{query} terminated: {} {error}", error_kind.as_ref().map_or("", |k| k.name()));
                lanes[i].1.marks.push(Mark { at: r.at, colour: "#d9534f", shape: Shape::Cross, title });
            }
            Event::FaultInjected { fault, target } => {
                bands.push((r.at, None, "rgba(217,83,79,0.10)", format!("fault {fault} → {target}")));
            }
            Event::FaultHealed { fault } => {
                if let Some(b) =
                    bands.iter_mut().rev().find(|b| b.1.is_none() && b.3.starts_with(&format!("fault {fault} ")))
                {
                    b.1 = Some(r.at);
                }
                rules.push((r.at, "#5cb85c", format!("{fault} healed")));
            }
            Event::FaultEffect { fault, query, error_kind, error } => {
                rules.push((r.at, "#d9534f", format!("{fault} took effect in {query}: {error_kind} {error}")));
            }
            Event::OperatorRestart { reason } => rules.push((r.at, "#9c27b0", format!("operator restart: {reason}"))),
            _ => {}
        }
    }
    for (_, l) in lanes.iter_mut() {
        l.end(end);
    }
    for b in bands.iter_mut() {
        b.1.get_or_insert(end);
    }
    // The silent window, on the query that stalled.
    if let Some(s) = &report.analysis.silence {
        let i = lane(&mut lanes, format!("query {}", s.query));
        let title = format!(
            "silent window {} in {} while every state said RUNNING: {}",
            human(s.duration()),
            s.query,
            report.analysis.states_during_silence.join(", ")
        );
        lanes[i].1.spans.insert(0, Span { from: s.from, to: Some(s.to), colour: "#ffe082", title });
    }

    let height = TOP + lanes.len() as f64 * LANE + 30.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    // Time axis, in nominal time: the bounds and the report speak in it.
    let scale = report.scale;
    let span = scale.nominal(Duration::from_micros((end - start) as u64));
    let step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 120_000, 300_000]
        .into_iter()
        .chain([600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000])
        .map(Duration::from_millis)
        .find(|d| span.as_secs_f64() / d.as_secs_f64() <= 12.0)
        .unwrap_or(Duration::from_secs(86_400));
    let mut t = Duration::ZERO;
    while t <= span {
        let px = x(start + scale.real(t).as_micros() as i64);
        let _ = write!(
            svg,
            r##"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle" fill="#777">{}</text>"##,
            TOP - 8.0,
            height - 25.0,
            height - 10.0,
            human(t)
        );
        t += step;
    }
    for (from, to, colour, title) in &bands {
        let (x1, x2) = (x(*from), x(to.unwrap_or(end)));
        let _ = write!(
            svg,
            r#"<rect x="{x1:.1}" y="{}" width="{:.1}" height="{}" fill="{colour}"><title>{}</title></rect>"#,
            TOP - 8.0,
            (x2 - x1).max(1.0),
            lanes.len() as f64 * LANE + 8.0,
            esc(title)
        );
    }
    for (i, (name, l)) in lanes.iter().enumerate() {
        let y = TOP + i as f64 * LANE;
        let _ = write!(svg, r##"<text x="6" y="{:.1}" fill="#333">{}</text>"##, y + LANE / 2.0 + 4.0, esc(name));
        for s in &l.spans {
            let (x1, x2) = (x(s.from), x(s.to.unwrap_or(end)));
            let _ = write!(
                svg,
                r#"<rect x="{x1:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" rx="2"><title>{}</title></rect>"#,
                y + 4.0,
                (x2 - x1).max(1.0),
                LANE - 8.0,
                s.colour,
                esc(&s.title)
            );
        }
        for m in &l.marks {
            let px = x(m.at);
            let (top, mid, bottom) = (y + 3.0, y + LANE / 2.0, y + LANE - 3.0);
            let body = match m.shape {
                Shape::Tick => format!(
                    r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{bottom:.1}" stroke="{}" stroke-width="1">"#,
                    mid - 2.0,
                    m.colour
                ),
                Shape::Start => format!(
                    r#"<path d="M{:.1},{top:.1} L{:.1},{mid:.1} L{:.1},{bottom:.1} Z" fill="{}">"#,
                    px,
                    px + 7.0,
                    px,
                    m.colour
                ),
                Shape::Cross => format!(
                    r#"<path d="M{:.1},{top:.1} L{:.1},{bottom:.1} M{:.1},{bottom:.1} L{:.1},{top:.1}" stroke="{}" stroke-width="2.5">"#,
                    px - 5.0,
                    px + 5.0,
                    px - 5.0,
                    px + 5.0,
                    m.colour
                ),
            };
            let close = match m.shape {
                Shape::Start => "</path>",
                Shape::Tick => "</line>",
                Shape::Cross => "</path>",
            };
            let _ = write!(svg, "{body}<title>{}</title>{close}", esc(&m.title));
        }
    }
    for (at, colour, title) in &rules {
        let px = x(*at);
        let _ = write!(
            svg,
            r#"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="4 3"><title>{}</title></line>"#,
            TOP - 10.0,
            TOP + lanes.len() as f64 * LANE,
            esc(title)
        );
    }
    svg.push_str("</svg>");

    let verdict = report.verdict().to_string();
    format!(
        r##"<!doctype html>
<html><head><meta charset="utf-8"><title>loudfail {run} — {verdict}</title>
<style>body{{font-family:sans-serif;margin:20px;color:#222}} .k span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 14px;vertical-align:middle}}</style>
</head><body>
<h2>loudfail run {run}: {verdict}</h2>
<p>{pipeline} · {topology} · {faults} · seed {seed} · time scale {scale} (the axis in nominal time; hover for details, in real time)</p>
<p class="k"><span style="background:#5cb85c"></span>RUNNING<span style="background:#f0ad4e"></span>RETRYING<span style="background:#d9534f"></span>FAILED<span style="background:#c9c9c9"></span>PENDING<span style="background:#6c7a89"></span>TERMINATED<span style="background:#8fb8de"></span>cluster alive<span style="background:#ffe082"></span>silent window<span style="background:rgba(217,83,79,0.25)"></span>fault in force</p>
{svg}
<pre>{table}</pre>
</body></html>
"##,
        run = esc(&report.run_id),
        verdict = esc(&verdict),
        pipeline = esc(&report.pipeline),
        topology = esc(&report.topology),
        faults = esc(&if report.faults.is_empty() { "no fault".into() } else { report.faults.join(", ") }),
        seed = report.seed,
        scale = report.scale,
        table = esc(&report.render()),
    )
}

/// Writes `timeline.html`.
pub fn write(path: &Path, records: &[Record], report: &Report) -> Result<()> {
    std::fs::write(path, render(records, report)).map_err(|e| HarnessError::io(path, e))
}
