//! `net.netfilter.nf_conntrack_acct` (per network namespace): without it the kernel keeps
//! no byte or packet counters and every flow would report zero.

use std::io;

const ACCT_PATH: &str = "/proc/sys/net/netfilter/nf_conntrack_acct";

/// Reads the switch in `netns`; with `enable`, sets it to 1 when it is 0.
/// Returns the value found before any change.
pub fn accounting(netns: Option<&str>, enable: bool) -> io::Result<bool> {
    // Done inside the namespace: a sysctl file addresses the opener's namespace.
    crate::sys::in_netns(netns, move || {
        let text = std::fs::read_to_string(ACCT_PATH).map_err(|e| io::Error::new(e.kind(), format!("{ACCT_PATH}: {e}")))?;
        let was = text.trim() != "0";
        if enable && !was {
            // A fresh write at offset 0 (sysctl ignores writes at a non-zero offset).
            std::fs::write(ACCT_PATH, b"1\n").map_err(|e| {
                let hint = if matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem) {
                    " (needs uid 0 or CAP_NET_ADMIN, and a writable /proc/sys)"
                } else {
                    ""
                };
                io::Error::new(e.kind(), format!("write 1 to {ACCT_PATH}: {e}{hint}"))
            })?;
        }
        Ok(was)
    })
}
