//! podflow's Rust path alone (no Node): dump + decode + delta + aggregation over `runs` steady
//! ticks after a first tick. Prints one JSON line of CPU seconds per tick (user, system).
//!
//! cargo run --release --offline --example ct_podflow_dump -- /run/netns/NAME [runs]

use flowsource::conntrack::{ConntrackSource, Options, ReaderChoice};
use flowsource::source::{Handle, Source};
use flowsource::sys;
use flowsource::tracker::Startup;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let netns = args.get(1).expect("usage: ct_podflow_dump NETNS_PATH [runs]").clone();
    let runs: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let opts = Options { netns: Some(netns), reader: ReaderChoice::Netlink, destroy_events: false, startup: Startup::Count, exclude: vec![] };
    let mut src = ConntrackSource::open(opts).expect("open");
    let (u0, s0) = sys::process_cpu_us();
    let first = src.tick().expect("tick");
    let (u1, s1) = sys::process_cpu_us();
    for _ in 0..runs {
        src.tick().expect("tick");
    }
    let (u2, s2) = sys::process_cpu_us();
    let r = f64::from(runs);
    println!(
        "{{\"first_user_s\":{:.4},\"first_sys_s\":{:.4},\"first_bytes\":{},\"steady_user_s\":{:.4},\"steady_sys_s\":{:.4}}}",
        (u1 - u0) as f64 / 1e6,
        (s1 - s0) as f64 / 1e6,
        first.len(),
        (u2 - u1) as f64 / 1e6 / r,
        (s2 - s1) as f64 / 1e6 / r
    );
}
