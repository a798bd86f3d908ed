//! Bounds-checked iteration over netlink messages in a datagram and attributes in a payload.
//! Every length is checked against the buffer before use: malformed input yields an error,
//! never a panic or an out-of-bounds read.

use super::{align4, NLMSG_HDRLEN};

/// One netlink message: its header fields and payload (after the 16-byte header).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Iterates the messages of one datagram. Yields `Err` once on a malformed header and stops.
pub struct Messages<'a> {
    buf: &'a [u8],
    failed: bool,
}

pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { buf, failed: false }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let fail = |s: &mut Self, why: String| {
            s.failed = true;
            Some(Err(why))
        };
        if self.buf.len() < NLMSG_HDRLEN {
            let n = self.buf.len();
            return fail(self, format!("truncated netlink header: {n} bytes left, need {NLMSG_HDRLEN}"));
        }
        let len = u32::from_ne_bytes(self.buf[0..4].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(self.buf[4..6].try_into().unwrap());
        let flags = u16::from_ne_bytes(self.buf[6..8].try_into().unwrap());
        let seq = u32::from_ne_bytes(self.buf[8..12].try_into().unwrap());
        if len < NLMSG_HDRLEN || len > self.buf.len() {
            let have = self.buf.len();
            return fail(self, format!("netlink message type {ty:#06x} claims {len} bytes, {have} available"));
        }
        let payload = &self.buf[NLMSG_HDRLEN..len];
        let advance = align4(len).min(self.buf.len());
        self.buf = &self.buf[advance..];
        Some(Ok(Message { ty, flags, seq, payload }))
    }
}

/// One attribute: type without the NESTED / NET_BYTEORDER flag bits, and its payload.
#[derive(Debug, Clone, Copy)]
pub struct Attr<'a> {
    pub ty: u16,
    pub payload: &'a [u8],
}

pub struct Attrs<'a> {
    buf: &'a [u8],
    failed: bool,
}

pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf, failed: false }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        if self.buf.len() < 4 {
            self.failed = true;
            return Some(Err(format!("truncated attribute header: {} bytes", self.buf.len())));
        }
        let len = u16::from_ne_bytes([self.buf[0], self.buf[1]]) as usize;
        let ty = u16::from_ne_bytes([self.buf[2], self.buf[3]]) & 0x3fff;
        if len < 4 || len > self.buf.len() {
            self.failed = true;
            return Some(Err(format!("attribute type {ty} claims {len} bytes, {} available", self.buf.len())));
        }
        let payload = &self.buf[4..len];
        let advance = align4(len).min(self.buf.len());
        self.buf = &self.buf[advance..];
        Some(Ok(Attr { ty, payload }))
    }
}

pub fn be_u16(attr: &Attr, what: &str) -> Result<u16, String> {
    match attr.payload {
        [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(format!("{what}: {} bytes, need 2", attr.payload.len())),
    }
}

pub fn be_u32(attr: &Attr, what: &str) -> Result<u32, String> {
    match attr.payload {
        [a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(format!("{what}: {} bytes, need 4", attr.payload.len())),
    }
}

pub fn be_u64(attr: &Attr, what: &str) -> Result<u64, String> {
    match attr.payload.get(..8) {
        Some(b) => Ok(u64::from_be_bytes(b.try_into().unwrap())),
        None => Err(format!("{what}: {} bytes, need 8", attr.payload.len())),
    }
}

pub fn u8_of(attr: &Attr, what: &str) -> Result<u8, String> {
    attr.payload.first().copied().ok_or_else(|| format!("{what}: empty"))
}
