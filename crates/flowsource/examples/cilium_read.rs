//! bench/cilium helper: read + decode of one pinned Cilium CT map, by BPF_MAP_LOOKUP_BATCH
//! (podflow) and by GET_NEXT_KEY + LOOKUP per key (the method egressd uses through Cilium's Go
//! packages), alternating, `runs` times each. Decode = what podflow does per entry before the
//! delta tracker: key and value decoded, flags classified, the initiator-oriented entry built.
//! Prints one JSON line: median wall and CPU seconds per method.
//!
//! usage: cilium_read <map path> <runs>
use flowsource::bpf::ctmap::{self, CtKey, CtValue, Layout};
use flowsource::bpf::map::{self, ReadMethod, Snapshot};
use flowsource::sys::process_cpu_us;
use std::time::Instant;

fn decode(snap: &Snapshot, ks: usize) -> u64 {
    let mut sum = 0u64;
    for i in 0..snap.count {
        let (Some(k), Some(v)) = (CtKey::decode(&snap.keys[i * ks..(i + 1) * ks]), CtValue::decode(&snap.values[i * 56..(i + 1) * 56])) else { continue };
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let ks = if path.contains("6") { 38 } else { 14 };
    let m = map::open_checked(path, ks as u32, 56).unwrap_or_else(|e| panic!("{e}"));
    let mut snap = Snapshot::default();
    let (mut bw, mut bc, mut kw, mut kc) = (vec![], vec![], vec![], vec![]);
    let (mut entries, mut sums) = (0, (0, 0));
    for _ in 0..runs {
        for method in [ReadMethod::Batch, ReadMethod::KeyByKey] {
            let (u0, s0) = process_cpu_us();
            let t = Instant::now();
            m.read(method, &mut snap).unwrap();
            let sum = decode(&snap, ks);
            let wall = t.elapsed().as_secs_f64();
            let (u1, s1) = process_cpu_us();
            let cpu = (u1 + s1 - u0 - s0) as f64 / 1e6;
            entries = snap.count;
            if method == ReadMethod::Batch {
                bw.push(wall);
                bc.push(cpu);
                sums.0 = sum;
            } else {
                kw.push(wall);
                kc.push(cpu);
                sums.1 = sum;
            }
        }
    }
    assert_eq!(sums.0, sums.1, "both methods must decode the same entries");
    println!(
        "{{\"entries\":{entries},\"runs\":{runs},\"batch_wall_s\":{:.4},\"batch_cpu_s\":{:.4},\"key_by_key_wall_s\":{:.4},\"key_by_key_cpu_s\":{:.4}}}",
        median(bw),
        median(bc),
        median(kw),
        median(kc)
    );
}
