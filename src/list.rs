//! The `list` command: pipelines, topologies and faults.

use crate::*;

pub(crate) fn list() -> i32 {
    println!("pipelines:");
    let registry = suites::registry();
    let names = registry.all().iter().map(|p| p.name()).chain(suites::SHIPPED_PROGRAMS.iter().map(|(n, _)| *n));
    let w = names.map(str::len).max().unwrap_or(0).max(20);
    for p in registry.all() {
        println!("  {:<w$}  {}", p.name(), p.about());
    }
    for (name, path) in suites::SHIPPED_PROGRAMS {
        println!("  {name:<w$}  a program with its spec file ({path}); needs its venv (ci/setup.sh)");
    }
    println!("topologies:");
    for kind in <TopologyKind as clap::ValueEnum>::value_variants() {
        println!("  {}", kind.name());
    }
    println!("await policies:");
    println!("  {:<w$}  await each query in order (the incident)", "each");
    println!("  {:<w$}  await any termination (the band-aid)", "any");
    println!("faults (fits: the pipelines each works on; a program is one run from --pipeline-file):");
    let faults = suites::faults();
    let width = faults.all().iter().map(|f| f.name().len()).max().unwrap_or(0);
    let plans: Vec<_> =
        suites::registry().all().iter().filter_map(|p| p.plan("list", &PipelineOptions::default()).ok()).collect();
    for f in faults.all() {
        let engine = plans.iter().any(|plan| f.check(plan).is_ok());
        let fits = match (engine, f.fits_programs()) {
            (true, true) => "any pipeline",
            (true, false) => "engine pipelines",
            (false, true) => "programs",
            (false, false) => "none here",
        };
        println!("  {:<width$}  {:<17} {}", f.name(), fits, f.about());
    }
    let on_the_broker: Vec<&str> =
        faults.all().iter().filter(|f| f.info().acts_on_the_broker).map(|f| f.name()).collect();
    println!("acting on the broker itself, so on the embedded broker only (refused with --broker):");
    println!("  {}", on_the_broker.join(", "));
    0
}
