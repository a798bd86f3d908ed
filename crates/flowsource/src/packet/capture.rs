//! A capture thread: opens the ring in a network namespace, then reads retired blocks until
//! stopped, handing each block's frames to a handler under one lock per block.

use super::ring::{Frame, Ring, RingConfig};
use super::sys;
use super::filter::FilterSpec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What a capture feeds: frames, and the kernel's own counts.
pub trait FrameHandler: Send + 'static {
    fn frame(&mut self, frame: &Frame<'_>);
    /// Packets the kernel delivered and dropped (ring full) since the previous call.
    fn kernel_counts(&mut self, _delivered: u64, _dropped: u64) {}
}

pub struct CaptureOptions {
    /// Network namespace file (e.g. /run/netns/x); None: the caller's own.
    pub netns: Option<String>,
    /// Interface name, or "any".
    pub interface: String,
    pub filter: FilterSpec,
    pub ring: RingConfig,
}

pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How long the thread sleeps in poll before checking whether it should stop.
const POLL_MS: i32 = 50;

impl Capture {
    pub fn start<H: FrameHandler>(opts: CaptureOptions, handler: Arc<Mutex<H>>) -> Result<Capture, String> {
        let program = opts.filter.program();
        let (iface, cfg) = (opts.interface.clone(), opts.ring);
        let ring = crate::sys::in_netns(opts.netns.as_deref(), move || Ring::open(&iface, &program, cfg))
            .map_err(|e| format!("packet capture on {:?}{}: {e}", opts.interface, opts.netns.as_deref().map(|n| format!(" in {n}")).unwrap_or_default()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("flowsource-capture".into())
            .spawn(move || run(ring, handler, flag))
            .map_err(|e| format!("cannot start the capture thread: {e}"))?;
        Ok(Capture { stop, thread: Some(thread) })
    }

    /// Stops the thread (within one poll interval) and closes the socket.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<H: FrameHandler>(mut ring: Ring, handler: Arc<Mutex<H>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let ready = sys::wait_readable(ring.fd(), POLL_MS).unwrap_or(false);
        if ready {
            ring.drain(|frames| {
                let Ok(mut h) = handler.lock() else { return };
                for f in frames {
                    h.frame(&f);
                }
            });
        }
        if let Ok((delivered, dropped)) = sys::take_statistics(ring.fd()) {
            if delivered > 0 || dropped > 0 {
                if let Ok(mut h) = handler.lock() {
                    h.kernel_counts(delivered, dropped);
                }
            }
        }
    }
    // Whatever the kernel retired before the stop is still counted.
    ring.drain(|frames| {
        if let Ok(mut h) = handler.lock() {
            for f in frames {
                h.frame(&f);
            }
        }
    });
}
