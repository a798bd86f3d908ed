//! The conntrack source: the reader (ctnetlink dump or procfs), the optional destroy-event
//! socket and the tracker, driven one tick at a time.

use crate::cidr::Cidr;
use crate::js::{Fields, FromJs, JsValue};
use crate::netlink::socket::{CtError, DumpSocket, EventSocket};
use crate::procfs;
use crate::records::{SourceKind, TickHeader};
use crate::source::{Handle, Source};
use crate::tracker::{Startup, Tracker};
use std::time::Instant;

/// The `source` setting: which reader to use (the batch says which one was used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderChoice {
    /// Netlink, falling back to procfs only when ctnetlink is unavailable.
    Auto,
    Netlink,
    Procfs,
}

impl ReaderChoice {
    pub fn parse(s: &str) -> Result<ReaderChoice, String> {
        match s {
            "auto" => Ok(ReaderChoice::Auto),
            "netlink" => Ok(ReaderChoice::Netlink),
            "procfs" => Ok(ReaderChoice::Procfs),
            _ => Err(format!("source must be auto, netlink or procfs, not {s:?}")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Path of a network namespace file (e.g. /proc/1/ns/net); None: the caller's own.
    pub netns: Option<String>,
    pub reader: ReaderChoice,
    pub destroy_events: bool,
    pub startup: Startup,
    pub exclude: Vec<Cidr>,
}

/// `{ netns, source, destroyEvents, startup, excludeCidrs }` (src/native/ ConntrackOptions).
impl FromJs for Options {
    fn from_js(value: &JsValue) -> Result<Options, String> {
        let o = Fields::of("conntrack options", value)?;
        Ok(Options {
            netns: o.opt_string("netns")?,
            reader: o.parse("source", ReaderChoice::parse)?,
            destroy_events: o.bool("destroyEvents")?,
            startup: o.parse("startup", Startup::parse)?,
            exclude: o.parse_each("excludeCidrs", Cidr::parse)?,
        })
    }
}

js_object! {
    /// What the conntrack source is doing (src/native/ ConntrackStatus).
    #[derive(Clone, Debug, PartialEq)]
    pub struct ConntrackStatus {
        /// The reader in use: netlink, or procfs (configured, or after a fallback).
        pub source: SourceKind => "source",
        pub destroy_events: bool => "destroyEvents",
        /// Why `auto` fell back to procfs.
        pub fallback_reason: Option<String> => "fallbackReason",
        pub tracked: usize => "tracked",
    }
}

enum Reader {
    Netlink(DumpSocket),
    Procfs,
}

impl Reader {
    fn kind(&self) -> SourceKind {
        match self {
            Reader::Netlink(_) => SourceKind::Netlink,
            Reader::Procfs => SourceKind::Procfs,
        }
    }
}

pub struct ConntrackSource {
    opts: Options,
    reader: Reader,
    events: Option<EventSocket>,
    tracker: Tracker,
    /// Why `auto` fell back to procfs (reported once by the caller).
    fallback_reason: Option<String>,
}

impl Handle for ConntrackSource {
    const NAME: &'static str = "conntrack";
    type Options = Options;
    type Status = ConntrackStatus;

    /// Opens the reader (`auto`: netlink, else procfs) and, with destroy events, the event socket.
    fn open(opts: Options) -> Result<ConntrackSource, String> {
        let netns = opts.netns.as_deref();
        let mut fallback_reason = None;
        let reader = match opts.reader {
            ReaderChoice::Procfs => {
                procfs::open(netns).map_err(|e| e.to_string())?;
                Reader::Procfs
            }
            ReaderChoice::Netlink => Reader::Netlink(DumpSocket::open(netns).map_err(|e| e.to_string())?),
            ReaderChoice::Auto => match DumpSocket::open(netns) {
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

    fn status(&self) -> Result<ConntrackStatus, String> {
        Ok(ConntrackStatus {
            source: self.reader.kind(),
            destroy_events: self.events.is_some(),
            fallback_reason: self.fallback_reason.clone(),
            tracked: self.tracker.tracked(),
        })
    }
}

impl Source for ConntrackSource {
    /// One interval: dump, apply destroy events, drop vanished state, return the packed batch.
    fn tick(&mut self) -> Result<Vec<u8>, String> {
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
                header.incomplete = s.inconsistent;
            }),
            Reader::Procfs => Ok(()),
        };
        match dumped {
            Ok(()) => {}
            Err(CtError::Unavailable(why)) if self.opts.reader == ReaderChoice::Auto => {
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
        }
        header.source = self.reader.kind();
        header.read_ns = started.elapsed().as_nanos() as u64;
        if let Some(ev) = self.events.as_mut() {
            let s = ev.drain(|e| tracker.destroyed(e)).map_err(|e| e.to_string())?;
            header.overruns = s.overruns as u32;
            header.skipped += s.skipped as u32;
        }
        Ok(self.tracker.finish_tick(header))
    }
}
