//! Plain-data JavaScript values: what crosses the Node-API boundary besides packed batches.
//!
//! Options come in as a JS object and statuses go out as one; both pass through [`JsValue`], a
//! small tree that `napi` builds from / turns into real JS values (napi_get_named_property,
//! napi_create_object, ...). Everything else in the crate works on the tree, so options parsing
//! and status shapes are plain Rust and tested without Node.
//!
//! - [`ToJs`]: a Rust value → a JS value. Status structs get it from [`js_object!`], which
//!   declares the struct and each field's JS name in one place.
//! - [`FromJs`]: a JS value → a Rust value, with errors that name the option.

use std::borrow::Cow;

/// A JavaScript value as plain data.
#[derive(Clone, Debug, PartialEq)]
pub enum JsValue {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<JsValue>),
    /// Properties in insertion order (the order `Object.keys` gives).
    Object(Vec<(Cow<'static, str>, JsValue)>),
}

impl JsValue {
    fn type_name(&self) -> &'static str {
        match self {
            JsValue::Undefined => "undefined",
            JsValue::Null => "null",
            JsValue::Bool(_) => "a boolean",
            JsValue::Number(_) => "a number",
            JsValue::String(_) => "a string",
            JsValue::Array(_) => "an array",
            JsValue::Object(_) => "an object",
        }
    }

    /// The property `key` of an object (None when absent or not an object).
    pub fn get(&self, key: &str) -> Option<&JsValue> {
        match self {
            JsValue::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A Rust value that crosses into JavaScript as a plain JS value.
pub trait ToJs {
    fn to_js(&self) -> JsValue;
}

impl ToJs for bool {
    fn to_js(&self) -> JsValue {
        JsValue::Bool(*self)
    }
}

macro_rules! numbers_to_js {
    ($($t:ty),*) => {$(
        impl ToJs for $t {
            /// Counters above 2^53 lose precision, as any JS number does.
            fn to_js(&self) -> JsValue {
                JsValue::Number(*self as f64)
            }
        }
    )*};
}
numbers_to_js!(u8, u16, u32, u64, usize, i32, i64, f64);

impl ToJs for str {
    fn to_js(&self) -> JsValue {
        JsValue::String(self.to_string())
    }
}

impl ToJs for String {
    fn to_js(&self) -> JsValue {
        JsValue::String(self.clone())
    }
}

impl<T: ToJs + ?Sized> ToJs for &T {
    fn to_js(&self) -> JsValue {
        (**self).to_js()
    }
}

/// `None` is `null`.
impl<T: ToJs> ToJs for Option<T> {
    fn to_js(&self) -> JsValue {
        self.as_ref().map_or(JsValue::Null, ToJs::to_js)
    }
}

impl<T: ToJs> ToJs for Vec<T> {
    fn to_js(&self) -> JsValue {
        JsValue::Array(self.iter().map(ToJs::to_js).collect())
    }
}

impl ToJs for JsValue {
    fn to_js(&self) -> JsValue {
        self.clone()
    }
}

/// Declares a struct whose every field crosses into JavaScript under the JS name given after
/// `=>` (camelCase, as the TypeScript types in src/native/ spell them), and its [`ToJs`]:
///
/// ```ignore
/// js_object! {
///     /// Totals since the capture started.
///     pub struct PacketStatus {
///         pub packets: u64 => "packets",
///         pub non_ip: u64 => "nonIp",
///     }
/// }
/// ```
#[macro_export]
macro_rules! js_object {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty => $js:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty, )*
        }
        impl $crate::js::ToJs for $name {
            fn to_js(&self) -> $crate::js::JsValue {
                $crate::js::JsValue::Object(vec![
                    $( (::std::borrow::Cow::Borrowed($js), $crate::js::ToJs::to_js(&self.$field)), )*
                ])
            }
        }
    };
}

/// A Rust value read from a JS value (handle options).
pub trait FromJs: Sized {
    fn from_js(value: &JsValue) -> Result<Self, String>;
}

/// The properties of an options object, read with errors that name the object and the key:
/// `conntrack options: destroyEvents must be a boolean, not a string`.
pub struct Fields<'a> {
    what: &'a str,
    value: &'a JsValue,
}

impl<'a> Fields<'a> {
    /// `what` names the object in errors (e.g. `conntrack options`).
    pub fn of(what: &'a str, value: &'a JsValue) -> Result<Fields<'a>, String> {
        match value {
            JsValue::Object(_) => Ok(Fields { what, value }),
            other => Err(format!("{what} must be an object, not {}", other.type_name())),
        }
    }

    fn present(&self, key: &str) -> Option<&'a JsValue> {
        self.value.get(key).filter(|v| !matches!(v, JsValue::Undefined))
    }

    fn wrong(&self, key: &str, want: &str, got: &JsValue) -> String {
        format!("{}: {key} must be {want}, not {}", self.what, got.type_name())
    }

    fn required(&self, key: &str, want: &str) -> Result<&'a JsValue, String> {
        self.present(key).ok_or_else(|| format!("{}: {key} is missing (expected {want})", self.what))
    }

    pub fn string(&self, key: &str) -> Result<String, String> {
        match self.required(key, "a string")? {
            JsValue::String(s) => Ok(s.clone()),
            other => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A string, or None when absent, `null` or empty.
    pub fn opt_string(&self, key: &str) -> Result<Option<String>, String> {
        match self.present(key) {
            None | Some(JsValue::Null) => Ok(None),
            Some(JsValue::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
            Some(other) => Err(self.wrong(key, "a string or null", other)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<bool, String> {
        match self.required(key, "a boolean")? {
            JsValue::Bool(b) => Ok(*b),
            other => Err(self.wrong(key, "a boolean", other)),
        }
    }

    pub fn number(&self, key: &str) -> Result<f64, String> {
        match self.required(key, "a number")? {
            JsValue::Number(n) => Ok(*n),
            other => Err(self.wrong(key, "a number", other)),
        }
    }

    /// A number from `min` to `max`.
    pub fn number_in(&self, key: &str, min: f64, max: f64) -> Result<f64, String> {
        let n = self.number(key)?;
        if !(min..=max).contains(&n) {
            return Err(format!("{}: {key} must be from {min} to {max}, not {n}", self.what));
        }
        Ok(n)
    }

    /// A whole number from `min` to `max`.
    pub fn integer(&self, key: &str, min: u64, max: u64) -> Result<u64, String> {
        let n = self.number(key)?;
        if n.fract() != 0.0 || n < min as f64 || n > max as f64 {
            return Err(format!("{}: {key} must be an integer from {min} to {max}, not {n}", self.what));
        }
        Ok(n as u64)
    }

    /// An array of strings (absent: empty).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.present(key) {
            None => Ok(Vec::new()),
            Some(JsValue::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    JsValue::String(s) => Ok(s.clone()),
                    other => Err(format!("{}: {key}[{i}] must be a string, not {}", self.what, other.type_name())),
                })
                .collect(),
            Some(other) => Err(self.wrong(key, "an array of strings", other)),
        }
    }

    /// A string turned into a value by `parse` (whose error already says what is allowed).
    pub fn parse<T>(&self, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, String> {
        parse(&self.string(key)?).map_err(|e| format!("{}: {e}", self.what))
    }

    /// Every string of an array turned into a value by `parse`.
    pub fn parse_each<T>(&self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
        self.strings(key)?.iter().map(|s| parse(s).map_err(|e| format!("{}: {key}: {e}", self.what))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    js_object! {
        struct Inner {
            seen_at: Option<u32> => "seenAt",
        }
    }

    js_object! {
        struct Outer {
            name: String => "name",
            tx_bytes: u64 => "txBytes",
            ok: bool => "ok",
            inner: Vec<Inner> => "inner",
        }
    }

    fn object(props: Vec<(&'static str, JsValue)>) -> JsValue {
        JsValue::Object(props.into_iter().map(|(k, v)| (Cow::Borrowed(k), v)).collect())
    }

    #[test]
    fn a_js_object_struct_becomes_an_object_with_its_js_names_in_order() {
        let v = Outer { name: "a".into(), tx_bytes: 1 << 40, ok: true, inner: vec![Inner { seen_at: None }, Inner { seen_at: Some(7) }] }.to_js();
        assert_eq!(
            v,
            object(vec![
                ("name", JsValue::String("a".into())),
                ("txBytes", JsValue::Number(1_099_511_627_776.0)),
                ("ok", JsValue::Bool(true)),
                ("inner", JsValue::Array(vec![object(vec![("seenAt", JsValue::Null)]), object(vec![("seenAt", JsValue::Number(7.0))])])),
            ])
        );
    }

    #[test]
    fn options_are_read_with_errors_that_name_the_key() {
        let o = object(vec![
            ("netns", JsValue::Null),
            ("iface", JsValue::String("eth0".into())),
            ("on", JsValue::String("yes".into())),
            ("n", JsValue::Number(2.5)),
            ("cidrs", JsValue::Array(vec![JsValue::String("10.0.0.0/8".into()), JsValue::Number(1.0)])),
        ]);
        let f = Fields::of("test options", &o).unwrap();
        assert_eq!(f.opt_string("netns").unwrap(), None);
        assert_eq!(f.opt_string("absent").unwrap(), None);
        assert_eq!(f.string("iface").unwrap(), "eth0");
        assert_eq!(f.bool("on").unwrap_err(), "test options: on must be a boolean, not a string");
        assert_eq!(f.bool("off").unwrap_err(), "test options: off is missing (expected a boolean)");
        assert_eq!(f.integer("n", 0, 10).unwrap_err(), "test options: n must be an integer from 0 to 10, not 2.5");
        assert_eq!(f.strings("cidrs").unwrap_err(), "test options: cidrs[1] must be a string, not a number");
        assert_eq!(f.strings("none").unwrap(), Vec::<String>::new());
        let bad = f.parse("iface", |s| if s == "lo" { Ok(()) } else { Err(format!("iface must be lo, not {s:?}")) });
        assert_eq!(bad.unwrap_err(), "test options: iface must be lo, not \"eth0\"");
        assert_eq!(Fields::of("x options", &JsValue::Null).err().unwrap(), "x options must be an object, not null");
    }
}
