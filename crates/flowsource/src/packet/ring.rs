//! An AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring.
//!
//! The ring is `blocks` blocks of `block_bytes`; the kernel fills a block with packets and
//! hands it over (block status TP_STATUS_USER) when it is full or `retire_ms` after its first
//! packet; we read every packet in it and hand it back (status TP_STATUS_KERNEL). Layouts
//! (linux/if_packet.h, native endian):
//! ```text
//! tpacket_block_desc   0 u32 version  4 u32 offset_to_priv
//!   tpacket_hdr_v1     8 u32 block_status  12 u32 num_pkts  16 u32 offset_to_first_pkt  20 u32 blk_len
//! tpacket3_hdr         0 u32 tp_next_offset  4 u32 tp_sec  8 u32 tp_nsec  12 u32 tp_snaplen  16 u32 tp_len
//!                     20 u32 tp_status  24 u16 tp_mac  26 u16 tp_net  28 u32 rxhash  32 u32 vlan_tci ...
//!                     (48 bytes), then sockaddr_ll: 48 u16 family  50 u16 protocol  52 i32 ifindex
//!                     56 u16 hatype  58 u8 pkttype
//! ```

use super::sys::{self, Mapping, SockFilter, TpacketReq3, PACKET_RX_RING, PACKET_VERSION, SOL_PACKET, TPACKET_V3};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{fence, Ordering};

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const HDR3_BYTES: usize = 48;
const SLL_BYTES: usize = 20;
pub const PACKET_OUTGOING: u8 = 4;

#[derive(Clone, Copy, Debug)]
pub struct RingConfig {
    pub block_bytes: u32,
    pub blocks: u32,
    pub retire_ms: u32,
}

impl RingConfig {
    /// `ring_bytes` split into 1 MiB blocks (at least 2).
    pub fn with_size(ring_bytes: u64, retire_ms: u32) -> RingConfig {
        let block_bytes = 1u32 << 20;
        let blocks = (ring_bytes / u64::from(block_bytes)).clamp(2, 4096) as u32;
        RingConfig { block_bytes, blocks, retire_ms: retire_ms.max(1) }
    }
}

/// One captured frame, valid during the callback.
pub struct Frame<'a> {
    /// From the link header on, cut at the snap length.
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub wire_len: u32,
    pub hatype: u16,
    pub pkttype: u8,
    /// A VLAN tag the NIC or veth took out of the frame (TP_STATUS_VLAN_VALID).
    pub vlan_tci: Option<u16>,
}

pub struct Ring {
    fd: OwnedFd,
    map: Mapping,
    cfg: RingConfig,
    next_block: usize,
}

impl Ring {
    /// Opens the capture in the calling thread's network namespace. `interface` "any" (or
    /// empty) captures on every interface.
    pub fn open(interface: &str, filter: &[SockFilter], cfg: RingConfig) -> io::Result<Ring> {
        let ifindex = if interface.is_empty() || interface == "any" { 0 } else { sys::interface_index(interface)? };
        let fd = sys::packet_socket()?;
        let raw = fd.as_raw_fd();
        sys::attach_filter(raw, filter)?;
        sys::set_option(raw, SOL_PACKET, PACKET_VERSION, &TPACKET_V3, "PACKET_VERSION TPACKET_V3")?;
        let frame_size = 2048u32;
        let req = TpacketReq3 {
            tp_block_size: cfg.block_bytes,
            tp_block_nr: cfg.blocks,
            tp_frame_size: frame_size,
            tp_frame_nr: cfg.block_bytes / frame_size * cfg.blocks,
            tp_retire_blk_tov: cfg.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sys::set_option(raw, SOL_PACKET, PACKET_RX_RING, &req, "PACKET_RX_RING")?;
        let map = Mapping::map(&fd, cfg.block_bytes as usize * cfg.blocks as usize)?;
        sys::bind_interface(raw, ifindex)?;
        Ok(Ring { fd, map, cfg, next_block: 0 })
    }

    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    fn block_ptr(&self, i: usize) -> *mut u8 {
        // SAFETY: i < blocks, so the offset lies inside the mapping.
        unsafe { self.map.as_ptr().add(i * self.cfg.block_bytes as usize) }
    }

    fn block_status(&self, i: usize) -> u32 {
        // SAFETY: the status word lies inside block i; the kernel writes it concurrently.
        let s = unsafe { std::ptr::read_volatile(self.block_ptr(i).add(8).cast::<u32>()) };
        fence(Ordering::Acquire);
        s
    }

    /// Hands every block the kernel has retired to `on_block` (in ring order), then returns it
    /// to the kernel. Returns the number of blocks read.
    pub fn drain(&mut self, mut on_block: impl FnMut(&mut dyn Iterator<Item = Frame<'_>>)) -> usize {
        let mut n = 0;
        while n < self.cfg.blocks as usize && self.block_status(self.next_block) & TP_STATUS_USER != 0 {
            let i = self.next_block;
            let bytes = self.cfg.block_bytes as usize;
            // SAFETY: the block belongs to us until its status is set back to TP_STATUS_KERNEL.
            let block = unsafe { std::slice::from_raw_parts(self.block_ptr(i), bytes) };
            let mut frames = BlockFrames::new(block);
            on_block(&mut frames);
            fence(Ordering::Release);
            // SAFETY: as above; this hands the block back.
            unsafe { std::ptr::write_volatile(self.block_ptr(i).add(8).cast::<u32>(), TP_STATUS_KERNEL) };
            self.next_block = (i + 1) % self.cfg.blocks as usize;
            n += 1;
        }
        n
    }
}

fn ne32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map(|s| u32::from_ne_bytes(s.try_into().unwrap())).unwrap_or(0)
}

fn ne16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2).map(|s| u16::from_ne_bytes(s.try_into().unwrap())).unwrap_or(0)
}

/// The packets of one retired block; stops early on an offset that would leave the block.
struct BlockFrames<'a> {
    block: &'a [u8],
    left: u32,
    at: usize,
}

impl<'a> BlockFrames<'a> {
    fn new(block: &'a [u8]) -> Self {
        BlockFrames { block, left: ne32(block, 12), at: ne32(block, 16) as usize }
    }
}

impl<'a> Iterator for BlockFrames<'a> {
    type Item = Frame<'a>;
    fn next(&mut self) -> Option<Frame<'a>> {
        if self.left == 0 || self.at + HDR3_BYTES + SLL_BYTES > self.block.len() {
            return None;
        }
        self.left -= 1;
        let b = self.block;
        let h = self.at;
        let next = ne32(b, h) as usize;
        let snap = ne32(b, h + 12) as usize;
        let wire_len = ne32(b, h + 16);
        let status = ne32(b, h + 20);
        let mac = usize::from(ne16(b, h + 24));
        let vlan = ne32(b, h + 32) as u16;
        let hatype = ne16(b, h + HDR3_BYTES + 8);
        let pkttype = b[h + HDR3_BYTES + 10];
        self.at = if next == 0 { usize::MAX / 2 } else { h + next };
        let start = (h + mac).min(b.len());
        let end = (start + snap).min(b.len());
        Some(Frame { data: &b[start..end], wire_len, hatype, pkttype, vlan_tci: (status & TP_STATUS_VLAN_VALID != 0).then_some(vlan) })
    }
}
