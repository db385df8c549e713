//! The "bare grammers, glibc malloc" contender: the same driver as `telegate-bench peer-grammers`
//! (bench/src/suite/grammers_peer.rs, compiled in here a second time), in a binary that keeps
//! Rust's default allocator, i.e. glibc's malloc. `telegate-bench` and the shipped `telegate`
//! binary use jemalloc as their global allocator; this binary is the suite's same-run baseline
//! for that choice (issue 6: RSS per idle account at 10,000 accounts).

#[path = "../suite/grammers_peer.rs"]
mod grammers_peer;

fn main() -> anyhow::Result<()> {
    let job = std::env::args_os()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: peer-grammers-system-alloc JOB_FILE"))?;
    grammers_peer::main(std::path::Path::new(&job))
}
