//! Links the `loudfail` binary as a fixed-address executable (`-no-pie`).
//!
//! Each run starts its clusters and tasks from this binary, and a run with restarts starts
//! about fifteen of them. As a position-independent executable the debug build carries about
//! 325,000 relative relocations, which the dynamic loader applies at every start (BIND_NOW).
//! `loudfail --version` took 12.8 ms as PIE and 4.2 ms without. `explore --property sound
//! --seed 1 --budget 40 --jobs 2` took 61-63 s and 99-104 CPU-s as PIE, 55.6-57.1 s and
//! 87-89 CPU-s without. The cost is address-space randomisation of the harness's own code,
//! which a local test harness does not need. Libraries and test binaries are unaffected.

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
