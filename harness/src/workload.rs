//! The loops a workload runs: a step every [`TICK`] until stopped, a failing or panicking step
//! recorded as a harness error. Reference pipelines and program pipelines produce through them.

use crate::error::Result;
use std::time::Duration;

/// One step of a workload loop (a producer tick, an ML job's commit).
#[async_trait::async_trait]
pub trait Tick: Send {
    /// Does one step.
    async fn tick(&mut self) -> Result<()>;
}

/// How often workload loops tick.
pub const TICK: Duration = Duration::from_millis(50);

/// Records per tick for a rate in records per second (at least one).
pub fn per_tick(rate: u32) -> i64 {
    (rate as f64 * TICK.as_secs_f64()).ceil().max(1.0) as i64
}

/// Runs `step` every [`TICK`] until `stop` turns true. A failing step is a harness problem:
/// it is recorded and the loop ends.
pub fn spawn_loop(
    mut step: Box<dyn Tick>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    history: crate::History,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            use futures::FutureExt;
            match std::panic::AssertUnwindSafe(step.tick()).catch_unwind().await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    history.record(crate::Event::HarnessError { message: format!("workload: {e}") });
                    return;
                }
                Err(panic) => {
                    let message = crate::error::panic_message(panic.as_ref());
                    history.record(crate::Event::HarnessError { message: format!("workload panicked: {message}") });
                    return;
                }
            }
        }
    })
}

/// The loops of a workload and the switch that stops them.
#[derive(Debug)]
pub struct Loops {
    stop: tokio::sync::watch::Sender<bool>,
    handles: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Default for Loops {
    fn default() -> Self {
        Loops { stop: tokio::sync::watch::channel(false).0, handles: std::sync::Mutex::new(Vec::new()) }
    }
}

impl Loops {
    /// Starts a loop.
    pub fn spawn(&self, step: Box<dyn Tick>, history: crate::History) {
        let h = spawn_loop(step, self.stop.subscribe(), history);
        self.handles.lock().expect("loops").push(h);
    }

    /// Stops every loop and waits for each to finish its step.
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let handles: Vec<_> = self.handles.lock().expect("loops").drain(..).collect();
        for h in handles {
            let _ = h.await;
        }
    }
}
