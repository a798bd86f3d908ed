//! One conntrack source: the reader (ctnetlink dump or procfs), the optional destroy-event
//! socket and the tracker, driven one tick at a time.

use crate::cidr::Cidr;
use crate::netlink::socket::{CtError, DumpSocket, EventSocket};
use crate::procfs;
use crate::records::{TickHeader, SOURCE_NETLINK, SOURCE_PROCFS};
use crate::tracker::{Startup, Tracker};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// Netlink, falling back to procfs only when ctnetlink is unavailable.
    Auto,
    Netlink,
    Procfs,
}

impl SourceKind {
    pub fn parse(s: &str) -> Result<SourceKind, String> {
        match s {
            "auto" => Ok(SourceKind::Auto),
            "netlink" => Ok(SourceKind::Netlink),
            "procfs" => Ok(SourceKind::Procfs),
            _ => Err(format!("source must be auto, netlink or procfs, not {s:?}")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Path of a network namespace file (e.g. /proc/1/ns/net); None: the caller's own.
    pub netns: Option<String>,
    pub source: SourceKind,
    pub destroy_events: bool,
    pub startup: Startup,
    pub exclude: Vec<Cidr>,
}

enum Reader {
    Netlink(DumpSocket),
    Procfs,
}

pub struct ConntrackSource {
    opts: Options,
    reader: Reader,
    events: Option<EventSocket>,
    tracker: Tracker,
    /// Why `auto` fell back to procfs (reported once by the caller).
    fallback_reason: Option<String>,
}

impl ConntrackSource {
    pub fn open(opts: Options) -> Result<ConntrackSource, String> {
        let netns = opts.netns.as_deref();
        let mut fallback_reason = None;
        let reader = match opts.source {
            SourceKind::Procfs => {
                procfs::open(netns).map_err(|e| e.to_string())?;
                Reader::Procfs
            }
            SourceKind::Netlink => Reader::Netlink(DumpSocket::open(netns).map_err(|e| e.to_string())?),
            SourceKind::Auto => match DumpSocket::open(netns) {
                Ok(s) => Reader::Netlink(s),
                Err(CtError::Unavailable(why)) => {
                    procfs::open(netns).map_err(|e| format!("{why}; procfs fallback failed too: {e}"))?;
                    fallback_reason = Some(why);
                    Reader::Procfs
                }
                Err(e) => return Err(e.to_string()),
            },
        };
        let events = match (&reader, opts.destroy_events) {
            (Reader::Netlink(_), true) => Some(EventSocket::open(netns).map_err(|e| format!("destroy events: {e}"))?),
            _ => None,
        };
        let tracker = Tracker::new(opts.startup, opts.exclude.clone());
        Ok(ConntrackSource { opts, reader, events, tracker, fallback_reason })
    }

    pub fn source_name(&self) -> &'static str {
        match self.reader {
            Reader::Netlink(_) => "netlink",
            Reader::Procfs => "procfs",
        }
    }

    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    pub fn has_destroy_events(&self) -> bool {
        self.events.is_some()
    }

    /// One interval: dump, apply destroy events, drop vanished state, return the packed batch.
    pub fn tick(&mut self) -> Result<Vec<u8>, String> {
        let mut header = TickHeader::default();
        self.tracker.begin_tick();
        if self.tracker.discards_events() {
            if let Some(ev) = self.events.as_mut() {
                ev.drain(|_| {}).map_err(|e| e.to_string())?;
            }
        }
        let started = Instant::now();
        let tracker = &mut self.tracker;
        let dumped = match &mut self.reader {
            Reader::Netlink(sock) => sock.dump(|e| tracker.observe(e)).map(|s| {
                header.entries = s.entries;
                header.restarts = s.restarts;
                header.skipped = s.skipped as u32;
                header.inconsistent = s.inconsistent;
            }),
            Reader::Procfs => Ok(()),
        };
        match dumped {
            Ok(()) => {}
            Err(CtError::Unavailable(why)) if self.opts.source == SourceKind::Auto => {
                self.reader = Reader::Procfs;
                self.events = None;
                self.fallback_reason = Some(why);
            }
            Err(e) => return Err(e.to_string()),
        }
        if let Reader::Procfs = self.reader {
            let file = procfs::open(self.opts.netns.as_deref()).map_err(|e| e.to_string())?;
            let s = procfs::read(file, |e| tracker.observe(e)).map_err(|e| format!("{}: {e}", procfs::PATH))?;
            header.entries = s.entries;
            header.skipped = s.skipped as u32;
            header.source = SOURCE_PROCFS;
        } else {
            header.source = SOURCE_NETLINK;
        }
        header.dump_ns = started.elapsed().as_nanos() as u64;
        if let Some(ev) = self.events.as_mut() {
            let s = ev.drain(|e| tracker.destroyed(e)).map_err(|e| e.to_string())?;
            header.event_overruns = s.overruns as u32;
            header.skipped += s.skipped as u32;
        }
        Ok(self.tracker.finish_tick(header))
    }

    /// A JSON object describing the source (for the receiver's start-up log).
    pub fn status_json(&self) -> String {
        let fallback = match &self.fallback_reason {
            Some(r) => format!("\"{}\"", r.replace('\\', "\\\\").replace('"', "\\\"")),
            None => "null".into(),
        };
        format!(
            "{{\"source\":\"{}\",\"destroyEvents\":{},\"fallbackReason\":{},\"tracked\":{}}}",
            self.source_name(),
            self.has_destroy_events(),
            fallback,
            self.tracker.tracked()
        )
    }
}
