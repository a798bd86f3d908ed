//! Micro-benchmark of the user-space part alone: decode 262,144 dump-shaped messages, then
//! decode + track them (no kernel involved): the first tick (all new), steady ticks (nothing
//! changed), and churn ticks (5% of the connections replaced by new ones at the same places
//! in the dump, the rest with grown counters).
use flowsource::netlink::builder::MessageBuilder;
use flowsource::netlink::socket::{walk_datagram, DumpStats};
use flowsource::netlink::{IPCTNL_MSG_CT_NEW, NLM_F_MULTI};
use flowsource::records::TickHeader;
use flowsource::tracker::{Startup, Tracker};
use std::time::Instant;

fn main() {
    let n = 262_144u64;
    // ~32 KiB datagrams, as the kernel sends them.
    let dump = |entries: &[flowsource::entry::Entry]| {
        let mut datagrams = Vec::new();
        let mut b = MessageBuilder::new();
        for e in entries {
            b.entry(IPCTNL_MSG_CT_NEW, NLM_F_MULTI, 1, e);
            if b.buf.len() > 32_000 {
                datagrams.push(std::mem::take(&mut b.buf));
            }
        }
        datagrams.push(b.buf);
        datagrams
    };
    let mut table: Vec<_> = flowsource::testdata::synthetic_entries(n)
        .enumerate()
        .map(|(i, mut e)| {
            e.id = i as u32;
            e
        })
        .collect();
    let datagrams = dump(&table);
    let t = Instant::now();
    let mut count = 0u64;
    for d in &datagrams {
        let mut s = DumpStats::default();
        walk_datagram(d, 1, &mut false, &mut s, &mut |_e| count += 1).unwrap();
    }
    println!("decode only: {:?} for {count} ({:.0} ns/entry)", t.elapsed(), t.elapsed().as_nanos() as f64 / count as f64);
    let mut tracker = Tracker::new(Startup::Count, vec![]);
    for round in 0..3 {
        let t = Instant::now();
        tracker.begin_tick();
        for d in &datagrams {
            let mut s = DumpStats::default();
            walk_datagram(d, 1, &mut false, &mut s, &mut |e| tracker.observe(e)).unwrap();
        }
        let out = tracker.finish_tick(TickHeader::default());
        println!("decode + track, tick {round}: {:?} ({:.0} ns/entry), {} bytes", t.elapsed(), t.elapsed().as_nanos() as f64 / n as f64, out.len());
    }
    let mut next_id = n as u32;
    for round in 0..3 {
        for (i, e) in table.iter_mut().enumerate() {
            if (i as u64 * 7 + round) % 20 == 0 {
                e.id = next_id; // a new connection where an old one was
                next_id += 1;
                e.original_counters = Default::default();
            } else {
                e.original_counters.packets += 1;
                e.original_counters.bytes += 100;
            }
        }
        let churned = dump(&table);
        let t = Instant::now();
        tracker.begin_tick();
        for d in &churned {
            let mut s = DumpStats::default();
            walk_datagram(d, 1, &mut false, &mut s, &mut |e| tracker.observe(e)).unwrap();
        }
        let out = tracker.finish_tick(TickHeader::default());
        println!("decode + track, 5% churn tick {round}: {:?} ({:.0} ns/entry), {} bytes", t.elapsed(), t.elapsed().as_nanos() as f64 / n as f64, out.len());
    }
}
