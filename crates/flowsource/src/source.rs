//! The contract every native handle keeps with JavaScript. `napi` binds it once, generically:
//! each handle type becomes one export section `{ open, status, close }` (plus `tick` for a
//! [`Source`]), registered by one line in napi.rs.
//!
//! - `open(options)`: options arrive as a JS object, read by [`FromJs`] (errors name the key);
//! - `status()`: a typed struct (declared with `js_object!`) that crosses as a JS object;
//! - `close()`: drops the handle (a capture thread stops, sockets and maps are closed);
//! - `tick()`: one interval's packed batch (crate::records), built off the JS thread.

use crate::js::{FromJs, ToJs};

/// A native object JavaScript opens, asks for its status, and closes.
pub trait Handle: Sized + Send + 'static {
    /// Its export section in JavaScript (`conntrack`, `cilium`, ...); also names it in errors.
    const NAME: &'static str;
    type Options: FromJs;
    type Status: ToJs;
    fn open(options: Self::Options) -> Result<Self, String>;
    fn status(&self) -> Result<Self::Status, String>;
}

/// A handle that yields one packed batch (crate::records) per tick: a receiver's source.
pub trait Source: Handle {
    fn tick(&mut self) -> Result<Vec<u8>, String>;
}
