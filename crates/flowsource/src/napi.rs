//! The Node-API boundary: hand-declared Node-API FFI (no napi crate), a small safe layer over
//! it, and the registry of what JavaScript sees. Nothing else in the crate knows about Node.
//!
//! What the addon exports (typed on the TS side in src/native/addon.ts):
//! - `contract`: the batch constants (crate::records::contract), checked by src/native/ at load;
//! - one section per handle type, bound generically from crate::source's traits:
//!   `{ open(options), status(handle), close(handle) }`, plus `tick(handle) → Promise<Buffer>`
//!   for a [`Source`], plus the few functions of its own a section lists in [`sections`];
//! - `testSupport`: synthetic data for benches and tests (crate::testdata), kept apart from
//!   the production sections.
//!
//! Adding a source: implement `Source` for it and add one line to [`sections`].
//!
//! Values cross as [`JsValue`] trees (options in, statuses out) or packed `Buffer`s (batches).
//! Handles are type-tagged externals, so a handle of one kind is never taken for another.
//! Blocking work (a tick) runs on the libuv thread pool and settles a Promise on the JS thread.
//! Errors returned as `Err(String)` become JS `Error`s; a Rust panic becomes an Error too,
//! never an abort of the Node process.

use crate::js::{FromJs, JsValue, ToJs};
use crate::source::{Handle, Source};
use std::borrow::Cow;
use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::sync::{Arc, Mutex, MutexGuard};

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
    pub const NAPI_BOOLEAN: i32 = 2;
    pub const NAPI_NUMBER: i32 = 3;
    pub const NAPI_STRING: i32 = 4;
    pub const NAPI_OBJECT: i32 = 6;

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
        pub fn napi_get_null(env: napi_env, result: *mut napi_value) -> napi_status;
        pub fn napi_create_object(env: napi_env, result: *mut napi_value) -> napi_status;
        pub fn napi_create_array_with_length(env: napi_env, length: usize, result: *mut napi_value) -> napi_status;
        pub fn napi_set_element(env: napi_env, object: napi_value, index: u32, value: napi_value) -> napi_status;
        pub fn napi_is_array(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
        pub fn napi_get_array_length(env: napi_env, value: napi_value, result: *mut u32) -> napi_status;
        pub fn napi_get_element(env: napi_env, object: napi_value, index: u32, result: *mut napi_value) -> napi_status;
        pub fn napi_get_property_names(env: napi_env, object: napi_value, result: *mut napi_value) -> napi_status;
        pub fn napi_get_property(env: napi_env, object: napi_value, key: napi_value, result: *mut napi_value) -> napi_status;
        pub fn napi_delete_async_work(env: napi_env, work: napi_async_work) -> napi_status;
    }
}

pub type Value = ffi::napi_value;
pub type TypeTag = ffi::napi_type_tag;
type Export = fn(&Env, &[Value]) -> Result<Value, String>;
type Section = (&'static str, Vec<(&'static str, Export)>);

// ---------------------------------------------------------------------------------------------
// The registry: one line per export section.

fn sections() -> Vec<Section> {
    use crate::bpf::source::CiliumSource;
    use crate::conntrack::ConntrackSource;
    use crate::dns::DnsNames;
    use crate::packet::PacketSource;
    vec![
        source::<ConntrackSource>(&[("accounting", conntrack_accounting)]),
        source::<CiliumSource>(&[]),
        source::<PacketSource>(&[]),
        handle::<DnsNames>(&[("lookup", dns_lookup)]),
        ("testSupport", vec![("conntrackInsertEntries", test_conntrack_insert_entries), ("ciliumCreateMap", test_cilium_create_map)]),
    ]
}

// ---------------------------------------------------------------------------------------------
// The generic binding of crate::source's traits.

/// A handle as JavaScript holds it: shared with a tick in flight; None once closed.
type Shared<H> = Arc<Mutex<Option<H>>>;

fn handle<H: Handle>(extra: &[(&'static str, Export)]) -> Section {
    let mut functions: Vec<(&'static str, Export)> = vec![("open", open::<H>), ("status", status::<H>), ("close", close::<H>)];
    functions.extend_from_slice(extra);
    (H::NAME, functions)
}

fn source<S: Source>(extra: &[(&'static str, Export)]) -> Section {
    let (name, mut functions) = handle::<S>(extra);
    functions.push(("tick", tick::<S>));
    (name, functions)
}

/// The type tag of `name`'s handles (FNV-1a of the name, twice with different seeds).
fn tag_of(name: &str) -> TypeTag {
    let fnv = |seed: u64| name.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    TypeTag { lower: fnv(0xcbf2_9ce4_8422_2325), upper: fnv(0x706f_6466_6c6f_7721) }
}

fn shared<'e, H: Handle>(env: &'e Env, args: &[Value]) -> Result<&'e Shared<H>, String> {
    env.unwrap::<Shared<H>>(arg(args, 0)?, &tag_of(H::NAME))
}

fn lock<H: Handle>(shared: &Shared<H>) -> Result<MutexGuard<'_, Option<H>>, String> {
    shared.lock().map_err(|_| format!("the {} handle was poisoned by an earlier panic", H::NAME))
}

fn closed<H: Handle>() -> String {
    format!("the {} handle is closed", H::NAME)
}

/// `open(options) → handle`
fn open<H: Handle>(env: &Env, args: &[Value]) -> Result<Value, String> {
    let options = H::Options::from_js(&env.read(arg(args, 0)?)?)?;
    let handle: Shared<H> = Arc::new(Mutex::new(Some(H::open(options)?)));
    env.wrap(handle, &tag_of(H::NAME))
}

/// `status(handle) → object` (the handle's `Status`).
fn status<H: Handle>(env: &Env, args: &[Value]) -> Result<Value, String> {
    let status = lock(shared::<H>(env, args)?)?.as_ref().ok_or_else(closed::<H>)?.status()?;
    env.js(&status.to_js())
}

/// `close(handle)`: drops the handle (waits for a tick in flight); closing twice is harmless.
fn close<H: Handle>(env: &Env, args: &[Value]) -> Result<Value, String> {
    let shared = shared::<H>(env, args)?;
    // A handle poisoned by a panic is still closed.
    let taken = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    drop(taken);
    env.undefined()
}

/// `tick(handle) → Promise<Buffer>`: one interval's packed batch (crate::records).
fn tick<S: Source>(env: &Env, args: &[Value]) -> Result<Value, String> {
    let shared = shared::<S>(env, args)?.clone();
    env.spawn(move || lock(&shared)?.as_mut().ok_or_else(closed::<S>)?.tick().map(Output::Buffer))
}

// ---------------------------------------------------------------------------------------------
// Functions of one section.

/// `conntrack.accounting(netns: string | null, enable: boolean) → boolean`: reads
/// nf_conntrack_acct in `netns`; with `enable`, sets it when 0. Returns the value before.
fn conntrack_accounting(env: &Env, args: &[Value]) -> Result<Value, String> {
    let netns = env.opt_string(arg(args, 0)?)?.filter(|s| !s.is_empty());
    let enable = env.bool(arg(args, 1)?)?;
    let was = crate::sysctl::accounting(netns.as_deref(), enable).map_err(|e| e.to_string())?;
    env.boolean(was)
}

/// `dns.lookup(handle, addresses: string /* one per line */) → string`: names, one per line
/// ("" unknown).
fn dns_lookup(env: &Env, args: &[Value]) -> Result<Value, String> {
    use crate::dns::DnsNames;
    let addresses = env.string(arg(args, 1)?)?;
    let names = lock(shared::<DnsNames>(env, args)?)?.as_ref().ok_or_else(closed::<DnsNames>)?.lookup_lines(&addresses)?;
    env.str(&names)
}

// ---------------------------------------------------------------------------------------------
// testSupport: synthetic data for benches and tests (crate::testdata).

/// `testSupport.conntrackInsertEntries(netns: string | null, count: number, batch: number) →
/// Promise<{inserted, refused, firstError}>`: fills a throwaway namespace's table with UDP
/// entries 10.X.Y.Z:port → 10.200.0.N:53.
fn test_conntrack_insert_entries(env: &Env, args: &[Value]) -> Result<Value, String> {
    let netns = env.opt_string(arg(args, 0)?)?.filter(|s| !s.is_empty());
    let count = env.f64(arg(args, 1)?)? as u64;
    let batch = (env.f64(arg(args, 2)?)? as usize).clamp(1, 4096);
    env.spawn(move || crate::testdata::conntrack_insert(netns.as_deref(), count, batch).map(|r| Output::Js(r.to_js())))
}

/// `testSupport.ciliumCreateMap(path, keySize, maxEntries, count) → Promise<number>`: a pinned
/// LRU map of Cilium's shape with `count` synthetic OUT TCP entries; resolves to the entries held.
fn test_cilium_create_map(env: &Env, args: &[Value]) -> Result<Value, String> {
    let path = env.string(arg(args, 0)?)?;
    let key_size = env.f64(arg(args, 1)?)? as u32;
    let max_entries = env.f64(arg(args, 2)?)? as u32;
    let count = env.f64(arg(args, 3)?)? as u32;
    env.spawn(move || crate::testdata::cilium_filled_map(&path, key_size, max_entries, count).map(|n| Output::Js(n.to_js())))
}

// ---------------------------------------------------------------------------------------------
// The safe layer.

/// The `env` of the current call; only valid on the JS thread during that call.
struct Env(ffi::napi_env);

/// What an async job hands back to JavaScript.
enum Output {
    Buffer(Vec<u8>),
    Js(JsValue),
}

fn check(status: ffi::napi_status, what: &str) -> Result<(), String> {
    if status == ffi::NAPI_OK {
        Ok(())
    } else {
        Err(format!("Node-API {what} failed (status {status})"))
    }
}

fn arg(args: &[Value], i: usize) -> Result<Value, String> {
    args.get(i).copied().ok_or_else(|| format!("missing argument {}", i + 1))
}

/// The errno name of the first OS error a message reports (`io::Error` displays one as
/// `… (os error 1)`): it becomes the JS error's `code` (`EPERM`), as on Node's own errors, so
/// that JavaScript can tell why a call was refused without reading the wording.
fn errno_code(msg: &str) -> Option<&'static str> {
    const MARK: &str = "(os error ";
    let at = msg.find(MARK)? + MARK.len();
    let errno: i32 = msg[at..].split(')').next()?.parse().ok()?;
    Some(match errno {
        1 => "EPERM",
        2 => "ENOENT",
        12 => "ENOMEM",
        13 => "EACCES",
        16 => "EBUSY",
        19 => "ENODEV",
        22 => "EINVAL",
        38 => "ENOSYS",
        93 => "EPROTONOSUPPORT",
        95 => "EOPNOTSUPP",
        105 => "ENOBUFS",
        _ => return None,
    })
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

    fn string(&self, v: Value) -> Result<String, String> {
        let mut len = 0usize;
        check(unsafe { ffi::napi_get_value_string_utf8(self.0, v, null_mut(), 0, &mut len) }, "string argument")?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0usize;
        check(unsafe { ffi::napi_get_value_string_utf8(self.0, v, buf.as_mut_ptr().cast(), buf.len(), &mut written) }, "string argument")?;
        buf.truncate(written);
        String::from_utf8(buf).map_err(|_| "string argument is not UTF-8".into())
    }

    /// A string, or None for `null` / `undefined`.
    fn opt_string(&self, v: Value) -> Result<Option<String>, String> {
        match self.type_of(v)? {
            ffi::NAPI_UNDEFINED | ffi::NAPI_NULL => Ok(None),
            _ => self.string(v).map(Some),
        }
    }

    fn bool(&self, v: Value) -> Result<bool, String> {
        let mut b = false;
        check(unsafe { ffi::napi_get_value_bool(self.0, v, &mut b) }, "boolean argument")?;
        Ok(b)
    }

    fn f64(&self, v: Value) -> Result<f64, String> {
        let mut n = 0f64;
        check(unsafe { ffi::napi_get_value_double(self.0, v, &mut n) }, "number argument")?;
        Ok(n)
    }

    fn undefined(&self) -> Result<Value, String> {
        let mut v = null_mut();
        check(unsafe { ffi::napi_get_undefined(self.0, &mut v) }, "napi_get_undefined")?;
        Ok(v)
    }

    fn number(&self, n: f64) -> Result<Value, String> {
        let mut v = null_mut();
        check(unsafe { ffi::napi_create_double(self.0, n, &mut v) }, "napi_create_double")?;
        Ok(v)
    }

    fn boolean(&self, b: bool) -> Result<Value, String> {
        let mut v = null_mut();
        check(unsafe { ffi::napi_get_boolean(self.0, b, &mut v) }, "napi_get_boolean")?;
        Ok(v)
    }

    fn str(&self, s: &str) -> Result<Value, String> {
        let mut v = null_mut();
        check(unsafe { ffi::napi_create_string_utf8(self.0, s.as_ptr().cast(), s.len(), &mut v) }, "napi_create_string_utf8")?;
        Ok(v)
    }

    fn buffer(&self, bytes: &[u8]) -> Result<Value, String> {
        let mut v = null_mut();
        let mut data = null_mut();
        check(unsafe { ffi::napi_create_buffer_copy(self.0, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut v) }, "napi_create_buffer_copy")?;
        Ok(v)
    }

    fn output(&self, out: Output) -> Result<Value, String> {
        match out {
            Output::Buffer(b) => self.buffer(&b),
            Output::Js(v) => self.js(&v),
        }
    }

    fn null(&self) -> Result<Value, String> {
        let mut v = null_mut();
        check(unsafe { ffi::napi_get_null(self.0, &mut v) }, "napi_get_null")?;
        Ok(v)
    }

    fn set(&self, object: Value, key: &str, value: Value) -> Result<(), String> {
        let name = cstring(key);
        check(unsafe { ffi::napi_set_named_property(self.0, object, name.as_ptr(), value) }, "napi_set_named_property")
    }

    /// A JS value made from `v` (objects with napi_create_object + napi_set_named_property).
    fn js(&self, v: &JsValue) -> Result<Value, String> {
        match v {
            JsValue::Undefined => self.undefined(),
            JsValue::Null => self.null(),
            JsValue::Bool(b) => self.boolean(*b),
            JsValue::Number(n) => self.number(*n),
            JsValue::String(s) => self.str(s),
            JsValue::Array(items) => {
                let mut array = null_mut();
                check(unsafe { ffi::napi_create_array_with_length(self.0, items.len(), &mut array) }, "napi_create_array_with_length")?;
                for (i, item) in items.iter().enumerate() {
                    let value = self.js(item)?;
                    check(unsafe { ffi::napi_set_element(self.0, array, i as u32, value) }, "napi_set_element")?;
                }
                Ok(array)
            }
            JsValue::Object(props) => {
                let mut object = null_mut();
                check(unsafe { ffi::napi_create_object(self.0, &mut object) }, "napi_create_object")?;
                for (key, value) in props {
                    let value = self.js(value)?;
                    self.set(object, key, value)?;
                }
                Ok(object)
            }
        }
    }

    /// `v` as plain data: strings, numbers, booleans, null/undefined, arrays and plain objects
    /// (own enumerable keys), at most [`MAX_DEPTH`] levels deep. Anything else is an error.
    fn read(&self, v: Value) -> Result<JsValue, String> {
        self.read_at(v, 0)
    }

    fn read_at(&self, v: Value, depth: usize) -> Result<JsValue, String> {
        if depth > MAX_DEPTH {
            return Err(format!("options nest deeper than {MAX_DEPTH} levels"));
        }
        Ok(match self.type_of(v)? {
            ffi::NAPI_UNDEFINED => JsValue::Undefined,
            ffi::NAPI_NULL => JsValue::Null,
            ffi::NAPI_BOOLEAN => JsValue::Bool(self.bool(v)?),
            ffi::NAPI_NUMBER => JsValue::Number(self.f64(v)?),
            ffi::NAPI_STRING => JsValue::String(self.string(v)?),
            ffi::NAPI_OBJECT => {
                let mut is_array = false;
                check(unsafe { ffi::napi_is_array(self.0, v, &mut is_array) }, "napi_is_array")?;
                if is_array {
                    let items = self.elements(v)?;
                    JsValue::Array(items.into_iter().map(|item| self.read_at(item, depth + 1)).collect::<Result<_, _>>()?)
                } else {
                    let mut keys = null_mut();
                    check(unsafe { ffi::napi_get_property_names(self.0, v, &mut keys) }, "napi_get_property_names")?;
                    let mut props = Vec::new();
                    for key in self.elements(keys)? {
                        let mut value = null_mut();
                        check(unsafe { ffi::napi_get_property(self.0, v, key, &mut value) }, "napi_get_property")?;
                        props.push((Cow::Owned(self.string(key)?), self.read_at(value, depth + 1)?));
                    }
                    JsValue::Object(props)
                }
            }
            other => return Err(format!("options hold a value of a kind that cannot cross (napi type {other}): only plain data can")),
        })
    }

    fn elements(&self, array: Value) -> Result<Vec<Value>, String> {
        let mut len = 0u32;
        check(unsafe { ffi::napi_get_array_length(self.0, array, &mut len) }, "napi_get_array_length")?;
        (0..len)
            .map(|i| {
                let mut item = null_mut();
                check(unsafe { ffi::napi_get_element(self.0, array, i, &mut item) }, "napi_get_element")?;
                Ok(item)
            })
            .collect()
    }

    fn error(&self, msg: &str) -> Value {
        let mut err = null_mut();
        let code = errno_code(msg).and_then(|c| self.str(c).ok()).unwrap_or(null_mut());
        if let Ok(m) = self.str(msg) {
            unsafe { ffi::napi_create_error(self.0, code, m, &mut err) };
        }
        err
    }

    /// Moves `value` into a JS external tagged with `tag`; dropped when JS collects it.
    fn wrap<T: 'static>(&self, value: T, tag: &TypeTag) -> Result<Value, String> {
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
    fn unwrap<T: 'static>(&self, v: Value, tag: &TypeTag) -> Result<&T, String> {
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
    fn spawn(&self, job: impl FnOnce() -> Result<Output, String> + Send + 'static) -> Result<Value, String> {
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
/// Nesting a value read from JavaScript may have (options are flat; this stops a cycle).
const MAX_DEPTH: usize = 8;

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
            let code = errno_code(&msg).map(cstring);
            ffi::napi_throw_error(env, code.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()), cstring(&msg).as_ptr());
            null_mut()
        }
        Err(p) => {
            ffi::napi_throw_error(env, std::ptr::null(), cstring(&panic_message(&p)).as_ptr());
            null_mut()
        }
    }
}

/// Builds the exports: `contract`, then each section as an object of functions.
fn register(env: &Env, exports: Value) -> Result<(), String> {
    env.set(exports, "contract", env.js(&crate::records::contract().to_js())?)?;
    for (section, functions) in sections() {
        let mut object = null_mut();
        check(unsafe { ffi::napi_create_object(env.0, &mut object) }, "napi_create_object")?;
        for (name, f) in functions {
            let cname = cstring(name);
            let mut func = null_mut();
            let data = f as *mut c_void;
            check(unsafe { ffi::napi_create_function(env.0, cname.as_ptr(), name.len(), dispatch, data, &mut func) }, "napi_create_function")
                .map_err(|e| format!("{section}.{name}: {e}"))?;
            env.set(object, name, func)?;
        }
        env.set(exports, section, object)?;
    }
    Ok(())
}

/// Entry point Node looks up when it loads the addon.
///
/// # Safety
/// Called by Node only, on the JS thread, with its `env` and the module's `exports` object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: ffi::napi_env, exports: Value) -> Value {
    let e = Env(env);
    match catch_unwind(AssertUnwindSafe(|| register(&e, exports))) {
        Ok(Ok(())) => exports,
        Ok(Err(msg)) => {
            ffi::napi_throw_error(env, std::ptr::null(), cstring(&format!("flowsource: cannot build its exports: {msg}")).as_ptr());
            null_mut()
        }
        Err(p) => {
            ffi::napi_throw_error(env, std::ptr::null(), cstring(&panic_message(&p)).as_ptr());
            null_mut()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::errno_code;
    use std::io;

    #[test]
    fn os_errors_carry_their_errno_name() {
        let eperm = format!("/sys/fs/bpf/x: BPF_OBJ_GET: operation not permitted ({})", io::Error::from_raw_os_error(1));
        assert_eq!(errno_code(&eperm), Some("EPERM"), "{eperm}");
        assert_eq!(errno_code(&io::Error::from_raw_os_error(13).to_string()), Some("EACCES"));
        assert_eq!(errno_code("cilium options: bpffs must be a string"), None);
        assert_eq!(errno_code("(os error 4095)"), None);
    }
}
