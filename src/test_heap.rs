//! Live heap bytes of the current thread, for tests that show memory stays bounded: a
//! counting global allocator for the library's test binary. Thread-local, so tests running
//! in parallel do not disturb each other's count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn add(delta: i64) {
    let _ = LIVE.try_with(|live| {
        let v = live.get() + delta;
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            add(l.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            add(l.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        add(-(l.size() as i64));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new_size) };
        if !q.is_null() {
            add(new_size as i64 - l.size() as i64);
        }
        q
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Bytes allocated on this thread and not yet freed (frees of other threads' blocks count
/// where they happen).
pub fn live() -> i64 {
    LIVE.with(Cell::get)
}
/// The highest [`live`] since the last [`reset_peak`].
pub fn peak() -> i64 {
    PEAK.with(Cell::get)
}
/// Starts a new peak from the current [`live`].
pub fn reset_peak() {
    PEAK.with(|p| p.set(live()));
}

/// Runs `f` on this thread and returns its result with the most heap it held at once, bytes
/// above what was live when it started.
pub fn peak_of<R>(f: impl FnOnce() -> R) -> (R, i64) {
    let before = live();
    reset_peak();
    let r = f();
    (r, peak() - before)
}
