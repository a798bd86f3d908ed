//! The Node-API boundary: hand-declared Node-API FFI (no napi crate), a small safe layer over
//! it, and the table of exported functions. Nothing else in the crate knows about Node.
//!
//! Adding an export: write `fn my_export(env: &Env, args: &[Value]) -> Result<Value, String>`
//! in the section of its module (or a new section) and add one line to [`EXPORTS`]. Helpers:
//! - arguments: `env.string(v)`, `env.opt_string(v)`, `env.bool(v)`, `env.f64(v)`, `arg(args, i)`
//! - results: `env.buffer(&bytes)`, `env.str(s)`, `env.number(n)`, `env.undefined()`
//! - native handles: `env.wrap(T, &TAG)` / `env.unwrap::<T>(v, &TAG)` (type-tagged externals,
//!   so a handle of one kind can never be taken for another)
//! - blocking work off the JS thread: `env.spawn(move || -> Result<Output, String>)` returns a
//!   Promise resolved on the JS thread (libuv thread pool).
//!
//! Errors returned as `Err(String)` become JS `Error`s; a Rust panic becomes an Error too,
//! never an abort of the Node process.

use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------------
// Raw Node-API declarations (js_native_api.h / node_api.h). Resolved against the node binary
// when the addon is loaded.

#[allow(non_camel_case_types)]
mod ffi {
    use std::ffi::{c_char, c_void};
    pub type napi_env = *mut c_void;
    pub type napi_value = *mut c_void;
    pub type napi_callback_info = *mut c_void;
    pub type napi_deferred = *mut c_void;
    pub type napi_async_work = *mut c_void;
    pub type napi_status = i32;
    pub type napi_callback = unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value;
    pub type napi_finalize = unsafe extern "C" fn(napi_env, *mut c_void, *mut c_void);
    pub type napi_async_execute_callback = unsafe extern "C" fn(napi_env, *mut c_void);
    pub type napi_async_complete_callback = unsafe extern "C" fn(napi_env, napi_status, *mut c_void);

    pub const NAPI_OK: napi_status = 0;
    pub const NAPI_UNDEFINED: i32 = 0;
    pub const NAPI_NULL: i32 = 1;

    #[repr(C)]
    pub struct napi_type_tag {
        pub lower: u64,
        pub upper: u64,
    }

    extern "C" {
        pub fn napi_create_function(env: napi_env, name: *const c_char, len: usize, cb: napi_callback, data: *mut c_void, result: *mut napi_value) -> napi_status;
        pub fn napi_set_named_property(env: napi_env, object: napi_value, name: *const c_char, value: napi_value) -> napi_status;
        pub fn napi_get_cb_info(env: napi_env, info: napi_callback_info, argc: *mut usize, argv: *mut napi_value, this: *mut napi_value, data: *mut *mut c_void) -> napi_status;
        pub fn napi_typeof(env: napi_env, value: napi_value, result: *mut i32) -> napi_status;
        pub fn napi_get_value_string_utf8(env: napi_env, value: napi_value, buf: *mut c_char, bufsize: usize, result: *mut usize) -> napi_status;
        pub fn napi_get_value_bool(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
        pub fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
        pub fn napi_create_string_utf8(env: napi_env, s: *const c_char, len: usize, result: *mut napi_value) -> napi_status;
        pub fn napi_create_double(env: napi_env, value: f64, result: *mut napi_value) -> napi_status;
        pub fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
        pub fn napi_get_boolean(env: napi_env, value: bool, result: *mut napi_value) -> napi_status;
        pub fn napi_create_buffer_copy(env: napi_env, len: usize, data: *const c_void, result_data: *mut *mut c_void, result: *mut napi_value) -> napi_status;
        pub fn napi_create_external(env: napi_env, data: *mut c_void, finalize: napi_finalize, hint: *mut c_void, result: *mut napi_value) -> napi_status;
        pub fn napi_get_value_external(env: napi_env, value: napi_value, result: *mut *mut c_void) -> napi_status;
        pub fn napi_type_tag_object(env: napi_env, value: napi_value, tag: *const napi_type_tag) -> napi_status;
        pub fn napi_check_object_type_tag(env: napi_env, value: napi_value, tag: *const napi_type_tag, result: *mut bool) -> napi_status;
        pub fn napi_throw_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
        pub fn napi_create_error(env: napi_env, code: napi_value, msg: napi_value, result: *mut napi_value) -> napi_status;
        pub fn napi_create_promise(env: napi_env, deferred: *mut napi_deferred, promise: *mut napi_value) -> napi_status;
        pub fn napi_resolve_deferred(env: napi_env, deferred: napi_deferred, value: napi_value) -> napi_status;
        pub fn napi_reject_deferred(env: napi_env, deferred: napi_deferred, value: napi_value) -> napi_status;
        pub fn napi_create_async_work(env: napi_env, resource: napi_value, name: napi_value, execute: napi_async_execute_callback, complete: napi_async_complete_callback, data: *mut c_void, result: *mut napi_async_work) -> napi_status;
        pub fn napi_queue_async_work(env: napi_env, work: napi_async_work) -> napi_status;
        pub fn napi_delete_async_work(env: napi_env, work: napi_async_work) -> napi_status;
    }
}

pub type Value = ffi::napi_value;
pub type TypeTag = ffi::napi_type_tag;
type Export = fn(&Env, &[Value]) -> Result<Value, String>;

// ---------------------------------------------------------------------------------------------
// Exports: one line per function visible to JavaScript (src/native/addon.ts types them).

const EXPORTS: &[(&str, Export)] = &[
    // conntrack (src/receivers/conntrack)
    ("conntrackOpen", conntrack_open),
    ("conntrackTick", conntrack_tick),
    ("conntrackStatus", conntrack_status),
    ("conntrackClose", conntrack_close),
    ("conntrackAccounting", conntrack_accounting),
    ("conntrackInsertTestEntries", conntrack_insert_test_entries),
    // cilium (src/receivers/cilium)
    ("ciliumOpen", cilium_open),
    ("ciliumTick", cilium_tick),
    ("ciliumStatus", cilium_status),
    ("ciliumClose", cilium_close),
    ("ciliumCreateTestMap", cilium_create_test_map),
    // packet capture (src/receivers/packet) and DNS names (src/processors/dnsnames)
    ("packetOpen", packet_open),
    ("packetTick", packet_tick),
    ("packetStatus", packet_status),
    ("packetClose", packet_close),
    ("dnsOpen", dns_open),
    ("dnsLookup", dns_lookup),
    ("dnsStatus", dns_status),
    ("dnsClose", dns_close),
];

// ---------------------------------------------------------------------------------------------
// Section: conntrack.

use crate::source::{ConntrackSource, Options, SourceKind};
use crate::tracker::Startup;

type ConntrackHandle = Arc<Mutex<Option<ConntrackSource>>>;
const CONNTRACK_TAG: TypeTag = TypeTag { lower: 0x706f_6466_6c6f_7701, upper: 0x636f_6e6e_7472_6b01 };

/// conntrackOpen(netns: string | null, source: 'auto'|'netlink'|'procfs', destroyEvents: boolean,
///               startup: 'baseline'|'count', excludeCidrs: string /* comma-separated */) → handle
fn conntrack_open(env: &Env, args: &[Value]) -> Result<Value, String> {
    let netns = env.opt_string(arg(args, 0)?)?.filter(|s| !s.is_empty());
    let source = SourceKind::parse(&env.string(arg(args, 1)?)?)?;
    let destroy_events = env.bool(arg(args, 2)?)?;
    let startup = match env.string(arg(args, 3)?)?.as_str() {
        "baseline" => Startup::Baseline,
        "count" => Startup::Count,
        other => return Err(format!("startup must be baseline or count, not {other:?}")),
    };
    let exclude = crate::cidr::parse_list(&env.string(arg(args, 4)?)?)?;
    let src = ConntrackSource::open(Options { netns, source, destroy_events, startup, exclude })?;
    let handle: ConntrackHandle = Arc::new(Mutex::new(Some(src)));
    env.wrap(handle, &CONNTRACK_TAG)
}

/// conntrackTick(handle) → Promise<Buffer> (layout: crate::records)
fn conntrack_tick(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<ConntrackHandle>(arg(args, 0)?, &CONNTRACK_TAG)?.clone();
    env.spawn(move || {
        let mut guard = handle.lock().map_err(|_| "conntrack source poisoned by an earlier panic".to_string())?;
        let src = guard.as_mut().ok_or("conntrack source is closed")?;
        src.tick().map(Output::Buffer)
    })
}

/// conntrackStatus(handle) → JSON string {source, destroyEvents, fallbackReason, tracked}
fn conntrack_status(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<ConntrackHandle>(arg(args, 0)?, &CONNTRACK_TAG)?;
    let guard = handle.lock().map_err(|_| "conntrack source poisoned".to_string())?;
    let src = guard.as_ref().ok_or("conntrack source is closed")?;
    env.str(&src.status_json())
}

/// conntrackClose(handle): releases the sockets (waits for a tick in progress).
fn conntrack_close(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<ConntrackHandle>(arg(args, 0)?, &CONNTRACK_TAG)?;
    if let Ok(mut guard) = handle.lock() {
        guard.take();
    }
    env.undefined()
}

/// conntrackAccounting(netns: string | null, enable: boolean) → boolean (value before any change)
fn conntrack_accounting(env: &Env, args: &[Value]) -> Result<Value, String> {
    let netns = env.opt_string(arg(args, 0)?)?.filter(|s| !s.is_empty());
    let enable = env.bool(arg(args, 1)?)?;
    let was = crate::sysctl::accounting(netns.as_deref(), enable).map_err(|e| e.to_string())?;
    env.boolean(was)
}

/// conntrackInsertTestEntries(netns: string | null, count: number, batch: number) →
/// Promise<string> (JSON {inserted, refused, firstError}). Fills a throwaway namespace's table
/// with UDP entries 10.X.Y.Z:port → 10.200.0.N:53 (bench and tests only).
fn conntrack_insert_test_entries(env: &Env, args: &[Value]) -> Result<Value, String> {
    let netns = env.opt_string(arg(args, 0)?)?.filter(|s| !s.is_empty());
    let count = env.f64(arg(args, 1)?)? as u64;
    let batch = (env.f64(arg(args, 2)?)? as usize).clamp(1, 4096);
    env.spawn(move || {
        let (refused, first) = crate::netlink::socket::insert_entries(netns.as_deref(), crate::testdata::synthetic_entries(count), batch)
            .map_err(|e| e.to_string())?;
        let first = first.map(|f| format!("\"{}\"", f.replace('"', "'"))).unwrap_or_else(|| "null".into());
        Ok(Output::String(format!("{{\"inserted\":{},\"refused\":{refused},\"firstError\":{first}}}", count - refused)))
    })
}

// ---------------------------------------------------------------------------------------------
// Section: cilium (the code lives in crate::bpf).

use crate::bpf::source::CiliumSource;

type CiliumHandle = Arc<Mutex<Option<CiliumSource>>>;
const CILIUM_TAG: TypeTag = TypeTag { lower: 0x706f_6466_6c6f_7702, upper: 0x6369_6c69_756d_6302 };

/// ciliumOpen(bpffs: string, maps: string /* comma-separated names or paths */,
///            layout: 'auto'|'v1.15'|'v1.16', clockSource: 'ktime'|'jiffies',
///            startup: 'baseline'|'count', excludeCidrs: string,
///            readMethod: 'auto'|'batch'|'key_by_key', readThreads?: number /* 0 or absent = auto */) → handle
fn cilium_open(env: &Env, args: &[Value]) -> Result<Value, String> {
    use crate::bpf::{clock::ClockSource, ctmap::LayoutChoice, map::ReadMethod, source};
    let bpffs = env.string(arg(args, 0)?)?;
    let names: Vec<String> = env.string(arg(args, 1)?)?.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let maps = source::resolve_maps(&bpffs, &names)?;
    let layout = LayoutChoice::parse(&env.string(arg(args, 2)?)?)?;
    let clock = ClockSource::parse(&env.string(arg(args, 3)?)?)?;
    let startup = match env.string(arg(args, 4)?)?.as_str() {
        "baseline" => Startup::Baseline,
        "count" => Startup::Count,
        other => return Err(format!("startup must be baseline or count, not {other:?}")),
    };
    let exclude = crate::cidr::parse_list(&env.string(arg(args, 5)?)?)?;
    let method = ReadMethod::parse(&env.string(arg(args, 6)?)?)?;
    let threads = match args.get(7) {
        Some(&v) => {
            let n = env.f64(v)?;
            if !(0.0..=64.0).contains(&n) || n.fract() != 0.0 {
                return Err(format!("readThreads must be an integer from 0 (auto) to 64, not {n}"));
            }
            n as usize
        }
        None => 0,
    };
    let src = CiliumSource::open(source::Options { maps, layout, clock, startup, exclude, method, threads })?;
    let handle: CiliumHandle = Arc::new(Mutex::new(Some(src)));
    env.wrap(handle, &CILIUM_TAG)
}

/// ciliumTick(handle) → Promise<Buffer> (layout: crate::records; header offset 60 = layout)
fn cilium_tick(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<CiliumHandle>(arg(args, 0)?, &CILIUM_TAG)?.clone();
    env.spawn(move || {
        let mut guard = handle.lock().map_err(|_| "cilium source poisoned by an earlier panic".to_string())?;
        let src = guard.as_mut().ok_or("cilium source is closed")?;
        src.tick().map(Output::Buffer)
    })
}

/// ciliumStatus(handle) → JSON string (crate::bpf::source::CiliumSource::status_json)
fn cilium_status(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<CiliumHandle>(arg(args, 0)?, &CILIUM_TAG)?;
    let guard = handle.lock().map_err(|_| "cilium source poisoned".to_string())?;
    let src = guard.as_ref().ok_or("cilium source is closed")?;
    env.str(&src.status_json())
}

/// ciliumClose(handle) (waits for a tick in progress).
fn cilium_close(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<CiliumHandle>(arg(args, 0)?, &CILIUM_TAG)?;
    if let Ok(mut guard) = handle.lock() {
        guard.take();
    }
    env.undefined()
}

/// ciliumCreateTestMap(path, keySize, maxEntries, count) → Promise<number>: a pinned LRU map of
/// Cilium's shape filled with `count` synthetic OUT TCP entries (bench and tests only).
fn cilium_create_test_map(env: &Env, args: &[Value]) -> Result<Value, String> {
    let path = env.string(arg(args, 0)?)?;
    let key_size = env.f64(arg(args, 1)?)? as u32;
    let max_entries = env.f64(arg(args, 2)?)? as u32;
    let count = env.f64(arg(args, 3)?)? as u32;
    env.spawn(move || crate::bpf::source::create_filled_map(&path, key_size, max_entries, count).map(|n| Output::String(n.to_string())))
}

// ---------------------------------------------------------------------------------------------
// Section: packet capture and DNS names (the code lives in crate::packet and crate::dns).

use crate::dns::{DnsOptions, DnsSource};
use crate::packet::{PacketOptions, PacketSource};

type PacketHandle = Arc<Mutex<Option<PacketSource>>>;
const PACKET_TAG: TypeTag = TypeTag { lower: 0x706f_6466_6c6f_7703, upper: 0x7061_636b_6574_7301 };
type DnsHandle = Arc<Mutex<Option<DnsSource>>>;
const DNS_TAG: TypeTag = TypeTag { lower: 0x706f_6466_6c6f_7704, upper: 0x646e_736e_616d_6501 };

/// packetOpen(netns: string | null, interface: string, filter: 'tcp'|'udp'|'all'|'80,443',
///            ringBytes: number, maxConnections: number, idleTimeoutMs: number,
///            excludeCidrs: string /* comma-separated */) → handle (the capture runs from now on)
fn packet_open(env: &Env, args: &[Value]) -> Result<Value, String> {
    let netns = env.opt_string(arg(args, 0)?)?.filter(|s| !s.is_empty());
    let interface = env.string(arg(args, 1)?)?;
    let filter = crate::packet::filter::FilterSpec::parse(&env.string(arg(args, 2)?)?, crate::packet::HEADER_SNAP_BYTES)?;
    let ring_bytes = env.f64(arg(args, 3)?)? as u64;
    let max_connections = env.f64(arg(args, 4)?)? as usize;
    let idle_timeout_ns = (env.f64(arg(args, 5)?)? * 1e6) as u64;
    let exclude = crate::cidr::parse_list(&env.string(arg(args, 6)?)?)?;
    let src = PacketSource::open(PacketOptions { netns, interface, filter, ring_bytes, max_connections, idle_timeout_ns, exclude })?;
    let handle: PacketHandle = Arc::new(Mutex::new(Some(src)));
    env.wrap(handle, &PACKET_TAG)
}

/// packetTick(handle) → Promise<Buffer> (layout: crate::records; crate::packet::flows for the header)
fn packet_tick(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<PacketHandle>(arg(args, 0)?, &PACKET_TAG)?.clone();
    env.spawn(move || {
        let guard = handle.lock().map_err(|_| "packet source poisoned by an earlier panic".to_string())?;
        guard.as_ref().ok_or("packet source is closed")?.tick().map(Output::Buffer)
    })
}

/// packetStatus(handle) → JSON {packets, malformed, nonIp, filtered, fragments, tableFull, kernelDrops, connections}
fn packet_status(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<PacketHandle>(arg(args, 0)?, &PACKET_TAG)?;
    let guard = handle.lock().map_err(|_| "packet source poisoned".to_string())?;
    env.str(&guard.as_ref().ok_or("packet source is closed")?.status_json()?)
}

/// packetClose(handle): stops the capture thread and closes the socket.
fn packet_close(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<PacketHandle>(arg(args, 0)?, &PACKET_TAG)?;
    if let Ok(mut guard) = handle.lock() {
        if let Some(mut src) = guard.take() {
            src.close();
        }
    }
    env.undefined()
}

/// dnsOpen(netns: string | null, interface: string, maxEntries: number, ttlFloorS: number,
///         ringBytes: number) → handle (DNS responses are captured from now on)
fn dns_open(env: &Env, args: &[Value]) -> Result<Value, String> {
    let netns = env.opt_string(arg(args, 0)?)?.filter(|s| !s.is_empty());
    let interface = env.string(arg(args, 1)?)?;
    let max_entries = env.f64(arg(args, 2)?)? as usize;
    let ttl_floor_s = env.f64(arg(args, 3)?)? as u64;
    let ring_bytes = env.f64(arg(args, 4)?)? as u64;
    let src = DnsSource::open(DnsOptions { netns, interface, max_entries, ttl_floor_s, ring_bytes })?;
    let handle: DnsHandle = Arc::new(Mutex::new(Some(src)));
    env.wrap(handle, &DNS_TAG)
}

/// dnsLookup(handle, addresses: string /* one per line */) → names, one per line ("" unknown)
fn dns_lookup(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<DnsHandle>(arg(args, 0)?, &DNS_TAG)?;
    let addresses = env.string(arg(args, 1)?)?;
    let guard = handle.lock().map_err(|_| "dns source poisoned".to_string())?;
    env.str(&guard.as_ref().ok_or("dns source is closed")?.lookup_lines(&addresses)?)
}

/// dnsStatus(handle) → JSON {responses, names, badMessages, malformedFrames, tcpResyncs, entries, evictions, expired}
fn dns_status(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<DnsHandle>(arg(args, 0)?, &DNS_TAG)?;
    let guard = handle.lock().map_err(|_| "dns source poisoned".to_string())?;
    env.str(&guard.as_ref().ok_or("dns source is closed")?.status_json()?)
}

/// dnsClose(handle): stops the capture thread and closes the socket.
fn dns_close(env: &Env, args: &[Value]) -> Result<Value, String> {
    let handle = env.unwrap::<DnsHandle>(arg(args, 0)?, &DNS_TAG)?;
    if let Ok(mut guard) = handle.lock() {
        if let Some(mut src) = guard.take() {
            src.close();
        }
    }
    env.undefined()
}

// ---------------------------------------------------------------------------------------------
// The safe layer.

/// The `env` of the current call; only valid on the JS thread during that call.
pub struct Env(ffi::napi_env);

/// What an async job hands back to JavaScript.
pub enum Output {
    Buffer(Vec<u8>),
    String(String),
    Undefined,
}

fn check(status: ffi::napi_status, what: &str) -> Result<(), String> {
    if status == ffi::NAPI_OK {
        Ok(())
    } else {
        Err(format!("Node-API {what} failed (status {status})"))
    }
}

pub fn arg(args: &[Value], i: usize) -> Result<Value, String> {
    args.get(i).copied().ok_or_else(|| format!("missing argument {}", i + 1))
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl Env {
    fn type_of(&self, v: Value) -> Result<i32, String> {
        let mut t = 0;
        check(unsafe { ffi::napi_typeof(self.0, v, &mut t) }, "napi_typeof")?;
        Ok(t)
    }

    pub fn string(&self, v: Value) -> Result<String, String> {
        let mut len = 0usize;
        check(unsafe { ffi::napi_get_value_string_utf8(self.0, v, null_mut(), 0, &mut len) }, "string argument")?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0usize;
        check(unsafe { ffi::napi_get_value_string_utf8(self.0, v, buf.as_mut_ptr().cast(), buf.len(), &mut written) }, "string argument")?;
        buf.truncate(written);
        String::from_utf8(buf).map_err(|_| "string argument is not UTF-8".into())
    }

    /// A string, or None for `null` / `undefined`.
    pub fn opt_string(&self, v: Value) -> Result<Option<String>, String> {
        match self.type_of(v)? {
            ffi::NAPI_UNDEFINED | ffi::NAPI_NULL => Ok(None),
            _ => self.string(v).map(Some),
        }
    }

    pub fn bool(&self, v: Value) -> Result<bool, String> {
        let mut b = false;
        check(unsafe { ffi::napi_get_value_bool(self.0, v, &mut b) }, "boolean argument")?;
        Ok(b)
    }

    pub fn f64(&self, v: Value) -> Result<f64, String> {
        let mut n = 0f64;
        check(unsafe { ffi::napi_get_value_double(self.0, v, &mut n) }, "number argument")?;
        Ok(n)
    }

    pub fn undefined(&self) -> Result<Value, String> {
        let mut v = null_mut();
        check(unsafe { ffi::napi_get_undefined(self.0, &mut v) }, "napi_get_undefined")?;
        Ok(v)
    }

    pub fn number(&self, n: f64) -> Result<Value, String> {
        let mut v = null_mut();
        check(unsafe { ffi::napi_create_double(self.0, n, &mut v) }, "napi_create_double")?;
        Ok(v)
    }

    pub fn boolean(&self, b: bool) -> Result<Value, String> {
        let mut v = null_mut();
        check(unsafe { ffi::napi_get_boolean(self.0, b, &mut v) }, "napi_get_boolean")?;
        Ok(v)
    }

    pub fn str(&self, s: &str) -> Result<Value, String> {
        let mut v = null_mut();
        check(unsafe { ffi::napi_create_string_utf8(self.0, s.as_ptr().cast(), s.len(), &mut v) }, "napi_create_string_utf8")?;
        Ok(v)
    }

    pub fn buffer(&self, bytes: &[u8]) -> Result<Value, String> {
        let mut v = null_mut();
        let mut data = null_mut();
        check(unsafe { ffi::napi_create_buffer_copy(self.0, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut v) }, "napi_create_buffer_copy")?;
        Ok(v)
    }

    fn output(&self, out: Output) -> Result<Value, String> {
        match out {
            Output::Buffer(b) => self.buffer(&b),
            Output::String(s) => self.str(&s),
            Output::Undefined => self.undefined(),
        }
    }

    fn error(&self, msg: &str) -> Value {
        let mut err = null_mut();
        if let Ok(m) = self.str(msg) {
            unsafe { ffi::napi_create_error(self.0, null_mut(), m, &mut err) };
        }
        err
    }

    /// Moves `value` into a JS external tagged with `tag`; dropped when JS collects it.
    pub fn wrap<T: 'static>(&self, value: T, tag: &TypeTag) -> Result<Value, String> {
        unsafe extern "C" fn finalize<T>(_env: ffi::napi_env, data: *mut c_void, _hint: *mut c_void) {
            drop(Box::from_raw(data.cast::<T>()));
        }
        let raw = Box::into_raw(Box::new(value));
        let mut v = null_mut();
        let status = unsafe { ffi::napi_create_external(self.0, raw.cast(), finalize::<T>, null_mut(), &mut v) };
        if status != ffi::NAPI_OK {
            drop(unsafe { Box::from_raw(raw) });
            return Err(format!("napi_create_external failed (status {status})"));
        }
        check(unsafe { ffi::napi_type_tag_object(self.0, v, tag) }, "napi_type_tag_object")?;
        Ok(v)
    }

    /// The value behind an external made by `wrap` with the same `tag`.
    pub fn unwrap<T: 'static>(&self, v: Value, tag: &TypeTag) -> Result<&T, String> {
        let mut ok = false;
        let status = unsafe { ffi::napi_check_object_type_tag(self.0, v, tag, &mut ok) };
        if status != ffi::NAPI_OK || !ok {
            return Err("argument is not a handle of the expected kind".into());
        }
        let mut data = null_mut();
        check(unsafe { ffi::napi_get_value_external(self.0, v, &mut data) }, "napi_get_value_external")?;
        // SAFETY: the tag proves the external was made by wrap::<T>; it lives while JS holds v.
        Ok(unsafe { &*data.cast::<T>() })
    }

    /// Runs `job` on the libuv thread pool; returns a Promise settled on the JS thread.
    pub fn spawn(&self, job: impl FnOnce() -> Result<Output, String> + Send + 'static) -> Result<Value, String> {
        struct Job {
            work: ffi::napi_async_work,
            deferred: ffi::napi_deferred,
            run: Option<Box<dyn FnOnce() -> Result<Output, String> + Send>>,
            result: Option<Result<Output, String>>,
        }
        unsafe extern "C" fn execute(_env: ffi::napi_env, data: *mut c_void) {
            let job = &mut *data.cast::<Job>();
            if let Some(run) = job.run.take() {
                job.result = Some(catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|p| Err(panic_message(&p))));
            }
        }
        unsafe extern "C" fn complete(env: ffi::napi_env, _status: ffi::napi_status, data: *mut c_void) {
            let job = Box::from_raw(data.cast::<Job>());
            let env = Env(env);
            let settled = match job.result.unwrap_or_else(|| Err("async job was cancelled".into())) {
                Ok(out) => env.output(out),
                Err(e) => Err(e),
            };
            match settled {
                Ok(v) => ffi::napi_resolve_deferred(env.0, job.deferred, v),
                Err(e) => ffi::napi_reject_deferred(env.0, job.deferred, env.error(&e)),
            };
            ffi::napi_delete_async_work(env.0, job.work);
        }
        let mut deferred = null_mut();
        let mut promise = null_mut();
        check(unsafe { ffi::napi_create_promise(self.0, &mut deferred, &mut promise) }, "napi_create_promise")?;
        let name = self.str("flowsource")?;
        let job = Box::into_raw(Box::new(Job { work: null_mut(), deferred, run: Some(Box::new(job)), result: None }));
        let status = unsafe { ffi::napi_create_async_work(self.0, null_mut(), name, execute, complete, job.cast(), &mut (*job).work) };
        if status != ffi::NAPI_OK {
            drop(unsafe { Box::from_raw(job) });
            return Err(format!("napi_create_async_work failed (status {status})"));
        }
        check(unsafe { ffi::napi_queue_async_work(self.0, (*job).work) }, "napi_queue_async_work")?;
        Ok(promise)
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    let what = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
    format!("flowsource panicked: {}", what.unwrap_or_else(|| "unknown".into()))
}

const MAX_ARGS: usize = 8;

/// The one C callback behind every export: `data` is the export's Rust function.
unsafe extern "C" fn dispatch(env: ffi::napi_env, info: ffi::napi_callback_info) -> Value {
    let mut argc = MAX_ARGS;
    let mut argv = [null_mut(); MAX_ARGS];
    let mut data = null_mut();
    let e = Env(env);
    if ffi::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), null_mut(), &mut data) != ffi::NAPI_OK {
        ffi::napi_throw_error(env, std::ptr::null(), c"flowsource: napi_get_cb_info failed".as_ptr());
        return null_mut();
    }
    // SAFETY: `data` was set from an `Export` in napi_register_module_v1.
    let f: Export = std::mem::transmute::<*mut c_void, Export>(data);
    let args = &argv[..argc.min(MAX_ARGS)];
    match catch_unwind(AssertUnwindSafe(|| f(&e, args))) {
        Ok(Ok(v)) => v,
        Ok(Err(msg)) => {
            ffi::napi_throw_error(env, std::ptr::null(), cstring(&msg).as_ptr());
            null_mut()
        }
        Err(p) => {
            ffi::napi_throw_error(env, std::ptr::null(), cstring(&panic_message(&p)).as_ptr());
            null_mut()
        }
    }
}

/// Entry point Node looks up when it loads the addon.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: ffi::napi_env, exports: Value) -> Value {
    for (name, f) in EXPORTS {
        let cname = cstring(name);
        let mut func = null_mut();
        let data = *f as *mut c_void;
        if ffi::napi_create_function(env, cname.as_ptr(), name.len(), dispatch, data, &mut func) != ffi::NAPI_OK
            || ffi::napi_set_named_property(env, exports, cname.as_ptr(), func) != ffi::NAPI_OK
        {
            ffi::napi_throw_error(env, std::ptr::null(), cstring(&format!("flowsource: cannot export {name}")).as_ptr());
            return null_mut();
        }
    }
    exports
}
