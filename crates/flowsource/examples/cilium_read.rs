//! bench/cilium helper: read + decode of one pinned Cilium CT map, by BPF_MAP_LOOKUP_BATCH
//! (podflow, with its default `read_threads: auto`, and on one thread) and by GET_NEXT_KEY +
//! LOOKUP per key (the method egressd uses through Cilium's Go packages), alternating, `runs`
//! times each. Decode = what podflow does per entry before the delta tracker: key and value
//! decoded, flags classified, the initiator-oriented entry built (on the reading thread, after
//! the read, as the receiver does).
//! Prints one JSON line: median wall and CPU seconds per method, and the decode share.
//!
//! usage: cilium_read <map path> <runs>
use flowsource::bpf::ctmap::{self, CtKey, CtValue, Layout};
use flowsource::bpf::map::{self, ReadMethod, Snapshot};
use flowsource::sys::process_cpu_us;
use std::time::Instant;

fn decode(snap: &Snapshot) -> u64 {
    let mut sum = 0u64;
    for (k, v) in snap.iter() {
        let (Some(k), Some(v)) = (CtKey::decode(k), CtValue::decode(v)) else { continue };
        if k.nexthdr == 0 || k.is_service() || k.is_related() {
            continue;
        }
        let e = ctmap::to_entry(&k, &v, Layout::V115, None);
        sum = sum.wrapping_add(e.original_counters.bytes + e.reply_counters.bytes + u64::from(e.original.src_port));
    }
    sum
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[derive(Default)]
struct Figures {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    decode: Vec<f64>,
    sum: u64,
    entries: usize,
    threads: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let ks = if path.contains('6') { 38 } else { 14 };
    let m = map::open_checked(path, ks as u32, 56).unwrap_or_else(|e| panic!("{e}"));
    // One snapshot per method, reused across runs as the receiver reuses its buffers.
    let methods = [(ReadMethod::Batch, 0usize), (ReadMethod::Batch, 1), (ReadMethod::KeyByKey, 0)];
    let mut snaps: Vec<Snapshot> = methods.iter().map(|_| Snapshot::default()).collect();
    let mut figs: Vec<Figures> = methods.iter().map(|_| Figures::default()).collect();
    for _ in 0..runs {
        for (i, &(method, threads)) in methods.iter().enumerate() {
            let snap = &mut snaps[i];
            let (u0, s0) = process_cpu_us();
            let t = Instant::now();
            m.read(method, threads, snap).unwrap();
            let read = t.elapsed().as_secs_f64();
            let sum = decode(snap);
            let wall = t.elapsed().as_secs_f64();
            let (u1, s1) = process_cpu_us();
            let f = &mut figs[i];
            f.wall.push(wall);
            f.cpu.push((u1 + s1 - u0 - s0) as f64 / 1e6);
            f.decode.push(wall - read);
            f.sum = sum;
            f.entries = snap.count;
            f.threads = snap.threads.max(1);
        }
    }
    assert!(figs.iter().all(|f| f.sum == figs[0].sum && f.entries == figs[0].entries), "every method must decode the same entries");
    let [b, b1, k] = [0, 1, 2].map(|i| (median(figs[i].wall.clone()), median(figs[i].cpu.clone()), median(figs[i].decode.clone())));
    println!(
        "{{\"entries\":{},\"runs\":{runs},\"batch_threads\":{},\"batch_wall_s\":{:.4},\"batch_cpu_s\":{:.4},\"batch_decode_s\":{:.4},\"batch_1thread_wall_s\":{:.4},\"batch_1thread_cpu_s\":{:.4},\"key_by_key_wall_s\":{:.4},\"key_by_key_cpu_s\":{:.4}}}",
        figs[0].entries, figs[0].threads, b.0, b.1, b.2, b1.0, b1.1, k.0, k.1
    );
}
