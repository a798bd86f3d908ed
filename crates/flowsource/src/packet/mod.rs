//! Packet capture: AF_PACKET + TPACKET_V3 ring (`ring`), a classic BPF filter attached in the
//! kernel (`filter`), header parsing (`parse`), per-5-tuple aggregation into the same packed
//! flow records as conntrack (`flows`), and the capture thread (`capture`).
//!
//! `PacketSource` is what the `packet` receiver drives: a capture thread feeds the flow
//! table continuously (the ring must be drained between ticks), and each tick takes the
//! interval's records.

pub mod capture;
pub mod filter;
pub mod flows;
pub mod parse;
pub mod ring;
pub mod sys;

use capture::{Capture, CaptureOptions, FrameHandler};
use filter::FilterSpec;
use flows::FlowTable;
use parse::{parse_frame, Link, Parsed};
use ring::{Frame, RingConfig};
use crate::js::{Fields, FromJs, JsValue};
use crate::source::{Handle, Source};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Bytes of each packet copied into the ring: enough for Ethernet + 2 VLAN tags + IPv6 with
/// extension headers + TCP with options.
pub const HEADER_SNAP_BYTES: u32 = 256;

pub struct Aggregator {
    filter: FilterSpec,
    table: FlowTable,
    epoch: Instant,
}

impl Aggregator {
    pub fn new(filter: FilterSpec, table: FlowTable) -> Aggregator {
        Aggregator { filter, table, epoch: Instant::now() }
    }

    /// One frame: parsed, filtered (the exact predicate), added to the flow table.
    pub fn frame_bytes(&mut self, data: &[u8], wire_len: usize, link: Link, now_ns: u64) {
        match parse_frame(data, wire_len, link) {
            Parsed::Ip(p) => {
                if self.filter.matches(&p) {
                    self.table.add(&p, now_ns);
                } else {
                    self.table.count(|c| c.filtered += 1);
                }
            }
            Parsed::NotIp => self.table.count(|c| c.non_ip += 1),
            Parsed::Malformed(_) => self.table.count(|c| c.malformed += 1),
        }
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn tick(&mut self) -> Vec<u8> {
        let now = self.now_ns();
        self.table.finish_tick(now)
    }

    pub fn status(&self) -> PacketStatus {
        let t = &self.table.total;
        PacketStatus {
            packets: t.packets,
            malformed: t.malformed,
            non_ip: t.non_ip,
            filtered: t.filtered,
            fragments: t.fragments,
            table_full: t.table_full,
            kernel_drops: t.kernel_drops,
            connections: self.table.connections(),
        }
    }
}

js_object! {
    /// Totals since the capture started (src/native/ PacketStatus).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct PacketStatus {
        pub packets: u64 => "packets",
        pub malformed: u64 => "malformed",
        pub non_ip: u64 => "nonIp",
        pub filtered: u64 => "filtered",
        /// Non-first fragments: no ports to attribute them by.
        pub fragments: u64 => "fragments",
        pub table_full: u64 => "tableFull",
        pub kernel_drops: u64 => "kernelDrops",
        /// Connections whose orientation is remembered now.
        pub connections: usize => "connections",
    }
}

impl FrameHandler for Aggregator {
    fn frame(&mut self, f: &Frame<'_>) {
        let now = self.now_ns();
        self.frame_bytes(f.data, f.wire_len as usize, Link::from_hatype(f.hatype), now);
    }
    fn kernel_counts(&mut self, _delivered: u64, dropped: u64) {
        self.table.count(|c| c.kernel_drops += dropped);
    }
}

pub struct PacketOptions {
    pub netns: Option<String>,
    pub interface: String,
    pub filter: FilterSpec,
    pub ring_bytes: u64,
    pub max_connections: usize,
    pub idle_timeout_ns: u64,
    pub exclude: Vec<crate::cidr::Cidr>,
}

/// `{ netns, interface, filter, ringBytes, maxConnections, idleTimeoutMs, excludeCidrs }`
/// (src/native/ PacketOptions; filter: `tcp`, `udp`, `all` or ports as `80,443`).
impl FromJs for PacketOptions {
    fn from_js(value: &JsValue) -> Result<PacketOptions, String> {
        let o = Fields::of("packet options", value)?;
        Ok(PacketOptions {
            netns: o.opt_string("netns")?,
            interface: o.string("interface")?,
            filter: o.parse("filter", |s| FilterSpec::parse(s, HEADER_SNAP_BYTES))?,
            ring_bytes: o.integer("ringBytes", 0, 1 << 40)?,
            max_connections: o.integer("maxConnections", 1, 1 << 32)? as usize,
            idle_timeout_ns: (o.number_in("idleTimeoutMs", 0.0, 1e12)? * 1e6) as u64,
            exclude: o.parse_each("excludeCidrs", crate::cidr::Cidr::parse)?,
        })
    }
}

/// The `packet` receiver's source: a running capture and its flow table. Dropping it stops
/// the capture thread and closes the socket.
pub struct PacketSource {
    agg: Arc<Mutex<Aggregator>>,
    _capture: Capture,
}

impl PacketSource {
    fn aggregator(&self) -> Result<std::sync::MutexGuard<'_, Aggregator>, String> {
        self.agg.lock().map_err(|_| "packet source poisoned by an earlier panic".to_string())
    }
}

impl Handle for PacketSource {
    const NAME: &'static str = "packet";
    type Options = PacketOptions;
    type Status = PacketStatus;

    /// Starts the capture: packets are counted from now on.
    fn open(o: PacketOptions) -> Result<PacketSource, String> {
        let table = FlowTable::new(o.max_connections, o.idle_timeout_ns, o.exclude);
        let agg = Arc::new(Mutex::new(Aggregator::new(o.filter.clone(), table)));
        let capture = Capture::start(
            CaptureOptions { netns: o.netns, interface: o.interface, filter: o.filter, ring: RingConfig::with_size(o.ring_bytes, 20) },
            agg.clone(),
        )?;
        Ok(PacketSource { agg, _capture: capture })
    }

    fn status(&self) -> Result<PacketStatus, String> {
        Ok(self.aggregator()?.status())
    }
}

impl Source for PacketSource {
    /// The interval's packed batch (layout: crate::records; see flows::FlowTable::finish_tick).
    fn tick(&mut self) -> Result<Vec<u8>, String> {
        Ok(self.aggregator()?.tick())
    }
}
