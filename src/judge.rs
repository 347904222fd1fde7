//! The `judge` command: a finished run judged again from its history.

use crate::*;

#[derive(Debug, Args)]
pub(crate) struct JudgeArgs {
    /// The run directory (it holds history.jsonl and report.json).
    pub(crate) dir: PathBuf,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn judge(args: JudgeArgs) -> Result<i32, HarnessError> {
    Ok(print_report(&harness::Report::judge(&args.dir)?, args.json))
}
