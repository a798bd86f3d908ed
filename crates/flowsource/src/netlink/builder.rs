//! Building ctnetlink messages: the dump request, IPCTNL_MSG_CT_NEW for inserting entries
//! (the bench fills a throwaway namespace's table with it), and dump-shaped messages for the
//! parser's tests.

use super::*;
use crate::entry::{Entry, Tuple, FAMILY_IPV4};

/// Appends netlink messages to one buffer (several may go in one datagram).
#[derive(Default)]
pub struct MessageBuilder {
    pub buf: Vec<u8>,
    msg_start: usize,
    nests: Vec<usize>,
}

impl MessageBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a message: nlmsghdr (length patched by `end_message`) and nfgenmsg.
    pub fn begin_message(&mut self, ty: u16, flags: u16, seq: u32, family: u8) {
        self.msg_start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&[family, 0, 0, 0]);
    }

    pub fn end_message(&mut self) {
        let len = (self.buf.len() - self.msg_start) as u32;
        self.buf[self.msg_start..self.msg_start + 4].copy_from_slice(&len.to_ne_bytes());
        self.pad();
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    pub fn attr(&mut self, ty: u16, payload: &[u8]) {
        self.buf.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    pub fn begin_nested(&mut self, ty: u16) {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(ty | 0x8000).to_ne_bytes());
    }

    pub fn end_nested(&mut self) {
        let start = self.nests.pop().expect("end_nested without begin_nested");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    pub fn tuple(&mut self, ty: u16, t: &Tuple) {
        self.begin_nested(ty);
        self.begin_nested(CTA_TUPLE_IP);
        if t.family == FAMILY_IPV4 {
            self.attr(CTA_IP_V4_SRC, &t.src[..4]);
            self.attr(CTA_IP_V4_DST, &t.dst[..4]);
        } else {
            self.attr(CTA_IP_V6_SRC, &t.src);
            self.attr(CTA_IP_V6_DST, &t.dst);
        }
        self.end_nested();
        self.begin_nested(CTA_TUPLE_PROTO);
        self.attr(CTA_PROTO_NUM, &[t.protocol]);
        if t.is_icmp() {
            let v6 = t.protocol == crate::entry::PROTO_ICMPV6;
            let (id, ty, code) = if v6 {
                (CTA_PROTO_ICMPV6_ID, CTA_PROTO_ICMPV6_TYPE, CTA_PROTO_ICMPV6_CODE)
            } else {
                (CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE)
            };
            self.attr(id, &t.src_port.to_be_bytes());
            self.attr(ty, &[(t.dst_port >> 8) as u8]);
            self.attr(code, &[t.dst_port as u8]);
        } else {
            self.attr(CTA_PROTO_SRC_PORT, &t.src_port.to_be_bytes());
            self.attr(CTA_PROTO_DST_PORT, &t.dst_port.to_be_bytes());
        }
        self.end_nested();
        self.end_nested();
    }

    fn counters(&mut self, ty: u16, packets: u64, bytes: u64) {
        self.begin_nested(ty);
        self.attr(CTA_COUNTERS_PACKETS, &packets.to_be_bytes());
        self.attr(CTA_COUNTERS_BYTES, &bytes.to_be_bytes());
        self.end_nested();
    }

    /// `IPCTNL_MSG_CT_GET` + `NLM_F_DUMP` for every family (AF_UNSPEC).
    pub fn dump_request(&mut self, seq: u32) {
        self.begin_message(ctnetlink_type(IPCTNL_MSG_CT_GET), NLM_F_REQUEST | NLM_F_DUMP, seq, 0);
        self.end_message();
    }

    /// A message shaped like one the kernel sends for `entry` (dump reply or event).
    pub fn entry(&mut self, msg: u16, flags: u16, seq: u32, e: &Entry) {
        let family = if e.original.family == FAMILY_IPV4 { AF_INET } else { AF_INET6 };
        self.begin_message(ctnetlink_type(msg), flags, seq, family);
        self.tuple(CTA_TUPLE_ORIG, &e.original);
        self.tuple(CTA_TUPLE_REPLY, &e.reply);
        self.attr(CTA_STATUS, &e.status.to_be_bytes());
        self.attr(CTA_TIMEOUT, &e.timeout.to_be_bytes());
        self.attr(CTA_MARK, &e.mark.to_be_bytes());
        self.counters(CTA_COUNTERS_ORIG, e.original_counters.packets, e.original_counters.bytes);
        self.counters(CTA_COUNTERS_REPLY, e.reply_counters.packets, e.reply_counters.bytes);
        self.attr(CTA_ID, &e.id.to_be_bytes());
        if e.zone != 0 {
            self.attr(CTA_ZONE, &e.zone.to_be_bytes());
        }
        self.end_message();
    }

    /// `IPCTNL_MSG_CT_NEW` with `NLM_F_CREATE`: inserts an entry (tuples, timeout, status).
    /// The kernel starts its counters at zero.
    pub fn create_entry(&mut self, seq: u32, e: &Entry) {
        let family = if e.original.family == FAMILY_IPV4 { AF_INET } else { AF_INET6 };
        self.begin_message(ctnetlink_type(IPCTNL_MSG_CT_NEW), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, seq, family);
        self.tuple(CTA_TUPLE_ORIG, &e.original);
        self.tuple(CTA_TUPLE_REPLY, &e.reply);
        self.attr(CTA_TIMEOUT, &e.timeout.to_be_bytes());
        if e.status != 0 {
            // Only changeable bits: the kernel refuses CONFIRMED/EXPECTED/DYING with EBUSY.
            self.attr(CTA_STATUS, &e.status.to_be_bytes());
        }
        self.end_message();
    }
}
