//! `cargo bench -p cutover-correlator --bench history`: the correlator's cost per event against
//! what it remembers (issue: "cost per event independent of history"). Messages are parsed
//! before the clock starts; each row is the best of three runs or more (small rows run until
//! 300,000 events were handled).
//!
//! - **History**: the same stream shape (about the same number of deployments and events) over
//!   fewer services, so each service keeps 1, 10, 50 and 200 deployments in the 7-day
//!   retention; the fleet-wide spacing grows with the depth so each service's deployments
//!   stay about 40 minutes apart.
//! - **In flight**: 100, 1,000 and 10,000 services, each with one rolling deployment started
//!   and not finished.
//!
//! Prints a Markdown table: row, events, deployments held (and per service), ns per event, and
//! the heap the correlator holds at the end (a counting allocator: bytes live after the run).
//!
//! Instructions instead of time (repeatable on a busy machine): `HISTORY_ROW=<0..6>` runs only
//! that row and `HISTORY_RUNS=1` once, under `valgrind --tool=callgrind
//! --toggle-collect='*Correlator*handle*'` (see BENCHMARKS.md).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cutover_correlator::{Correlator, Input, Routing};
use cutover_events::{Inbound, Timestamp, parse_body};

/// The system allocator, counting the bytes live: what the correlator's state holds.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout, as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: a pointer this allocator gave, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn parsed(lines: &[String]) -> Vec<Inbound> {
    lines.iter().filter_map(|l| parse_body(l).ok()).collect()
}

/// Best of several runs (three, or as many as make 300,000 events): (ns per event,
/// deployments held at the end, MiB the correlator holds at the end).
fn measure(messages: &[Inbound]) -> (f64, usize, f64) {
    let mut best = f64::INFINITY;
    let mut held = 0;
    let mut mib = 0.0;
    let runs = std::env::var("HISTORY_RUNS").ok().and_then(|r| r.parse().ok());
    for _ in 0..runs.unwrap_or((300_000 / messages.len().max(1)).max(3)) {
        let before = LIVE.load(Ordering::Relaxed);
        let batch = messages.to_vec();
        let mut c = Correlator::new(Routing::default());
        let started = Instant::now();
        for m in batch {
            black_box(c.handle(Timestamp(0), Input::Message(Box::new(m))));
        }
        let ns = started.elapsed().as_nanos() as f64 / messages.len().max(1) as f64;
        best = best.min(ns);
        held = c.deployments_held();
        // The batch was consumed: what is live beyond `before` is the correlator.
        mib = LIVE.load(Ordering::Relaxed).saturating_sub(before) as f64 / (1024.0 * 1024.0);
    }
    (best, held, mib)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used.
    const DEPLOYMENTS: usize = 2_400;
    const EVENTS: usize = 36_000;
    println!("| row | events | deployments held | ns/event | state MiB |\n|---|---|---|---|---|");
    let only: Option<usize> = std::env::var("HISTORY_ROW").ok().and_then(|r| r.parse().ok());
    let skip = |row: usize| only.is_some_and(|o| o != row);
    for (row, per_service) in [1usize, 10, 50, 200].into_iter().enumerate() {
        if skip(row) {
            continue;
        }
        let services = DEPLOYMENTS / per_service;
        let params = cutover_testkit::stream::Params {
            services,
            events: EVENTS,
            spacing_secs: (2_400 / services as i64).max(1),
        };
        let mut lines = Vec::new();
        cutover_testkit::stream::generate(&params, |l| lines.push(l.to_owned()));
        let messages = parsed(&lines);
        let (ns, held, mib) = measure(&messages);
        let each = held as f64 / services as f64;
        println!(
            "| history: {services} services, {each:.1} deployments each | {} | {held} | {ns:.0} | {mib:.1} |",
            messages.len()
        );
    }
    for (row, services) in [100usize, 1_000, 10_000].into_iter().enumerate() {
        if skip(row + 4) {
            continue;
        }
        let mut lines = Vec::new();
        cutover_testkit::stream::in_flight(services, |l| lines.push(l.to_owned()));
        let messages = parsed(&lines);
        let (ns, held, mib) = measure(&messages);
        println!("| in flight: {services} deployments | {} | {held} | {ns:.0} | {mib:.1} |", messages.len());
    }
}
