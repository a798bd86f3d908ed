//! The physical floor for a conntrack dump: enter the namespace, send the dump request and
//! receive every datagram until NLMSG_DONE, decoding nothing. Prints one JSON line with the
//! CPU (user, system) and wall time of the receive loop, averaged over `runs`.
//!
//! cargo run --release --offline --example ct_bare_dump -- /run/netns/NAME [runs]

use flowsource::netlink::builder::MessageBuilder;
use flowsource::netlink::NLMSG_DONE;
use flowsource::sys;
use std::os::fd::AsRawFd;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let netns = args.get(1).expect("usage: ct_bare_dump NETNS_PATH [runs]");
    let runs: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    sys::enter_netns(netns).expect("setns");
    let fd = sys::netfilter_socket(false, 0).expect("socket");
    sys::set_receive_buffer(fd.as_raw_fd(), 32 << 20);
    let mut buf = vec![0u8; 256 * 1024];
    let (mut user, mut system, mut wall, mut bytes, mut datagrams) = (0u64, 0u64, 0f64, 0u64, 0u64);
    for seq in 1..=runs {
        let mut req = MessageBuilder::new();
        req.dump_request(seq);
        let (u0, s0) = sys::process_cpu_us();
        let t0 = Instant::now();
        sys::send_all(fd.as_raw_fd(), &req.buf).expect("send");
        'dump: loop {
            let n = sys::recv_datagram(fd.as_raw_fd(), &mut buf, false).expect("recv").unwrap_or(0);
            bytes += n as u64;
            datagrams += 1;
            // Only the message headers are walked, to find NLMSG_DONE.
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                if u16::from_ne_bytes([buf[off + 4], buf[off + 5]]) == NLMSG_DONE {
                    break 'dump;
                }
                off += (len.max(16) + 3) & !3;
            }
        }
        wall += t0.elapsed().as_secs_f64();
        let (u1, s1) = sys::process_cpu_us();
        user += u1 - u0;
        system += s1 - s0;
    }
    let r = f64::from(runs);
    println!(
        "{{\"cpu_s\":{:.4},\"user_s\":{:.4},\"sys_s\":{:.4},\"wall_s\":{:.4},\"bytes\":{},\"datagrams\":{}}}",
        (user + system) as f64 / 1e6 / r,
        user as f64 / 1e6 / r,
        system as f64 / 1e6 / r,
        wall / r,
        bytes / u64::from(runs),
        datagrams / u64::from(runs)
    );
}
