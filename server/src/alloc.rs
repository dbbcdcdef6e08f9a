//! jemalloc as rill-server links it: built with Redis's 8-byte size classes
//! (`.cargo/config.toml` sets `JEMALLOC_SYS_WITH_LG_QUANTUM=3`, as Redis's deps/Makefile
//! passes `--with-lg-quantum=3`), so small keys and packed collections are rounded up by at
//! most 7 bytes, not 15.
//!
//! With that quantum a plain `malloc` guarantees 8-byte alignment only: a 24-, 40- or
//! 56-byte block may start 8 bytes off a 16-byte boundary. `tikv-jemallocator`'s
//! `GlobalAlloc` assumes jemalloc's default quantum (16 on x86_64 and aarch64) and asks for
//! no alignment up to 16, so a `Layout` aligned to 16 (hashbrown's tables, whose control
//! bytes are read with aligned SSE2 loads) could get an 8-aligned block: the server died of
//! a general protection fault restoring a small sorted set. [`Jemalloc`] asks jemalloc for
//! every alignment above the quantum explicitly (`MALLOCX_ALIGN`), which is correct whatever
//! quantum jemalloc was built with.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::os::raw::c_int;

use tikv_jemalloc_sys as sys;

/// The alignment every jemalloc block has without asking (`LG_QUANTUM` 3).
const QUANTUM: usize = 8;

/// jemalloc, every alignment honoured (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Jemalloc;

/// The flags that make jemalloc honour `align` for a block of `size` bytes: none when its
/// quantum already does.
fn flags(align: usize, size: usize) -> c_int {
    if align <= QUANTUM && align <= size {
        0
    } else {
        sys::MALLOCX_ALIGN(align)
    }
}

/// The usable size of a block of `layout` resized to `size` bytes (what
/// `malloc_usable_size` reports for it, its size class), from the sizes alone: no look-up
/// of the block.
pub fn usable_size(layout: Layout, size: usize) -> usize {
    // SAFETY: nallocx only computes a size; it reads no memory of the caller's.
    unsafe { sys::nallocx(size, flags(layout.align(), size)) }
}

// SAFETY: each method hands jemalloc's `*allocx` family the caller's sizes with the flags
// that make it honour the layout's alignment; `GlobalAlloc`'s contract (non-zero sizes, a
// `ptr` from this allocator with its layout) is the one jemalloc's functions need.
unsafe impl GlobalAlloc for Jemalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let flags = flags(layout.align(), layout.size());
        unsafe { sys::mallocx(layout.size(), flags) as *mut u8 }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let flags = flags(layout.align(), layout.size()) | sys::MALLOCX_ZERO;
        unsafe { sys::mallocx(layout.size(), flags) as *mut u8 }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let flags = flags(layout.align(), layout.size());
        unsafe { sys::sdallocx(ptr as *mut _, layout.size(), flags) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let flags = flags(layout.align(), new_size);
        unsafe { sys::rallocx(ptr as *mut _, new_size, flags) as *mut u8 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size up to 256 bytes at every alignment up to 64 comes back aligned, fresh
    /// and resized (with 8-byte classes, a plain malloc of 24, 40 or 56 bytes is 8-aligned
    /// only half the time).
    #[test]
    fn every_alignment_is_honoured() {
        let jemalloc = Jemalloc;
        let mut held = Vec::new();
        for align in [1, 2, 4, 8, 16, 32, 64] {
            for size in 1..=256 {
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    continue;
                };
                for _ in 0..4 {
                    // SAFETY: a non-zero size; freed below with the same layout.
                    let p = unsafe { jemalloc.alloc(layout) };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    assert!(usable_size(layout, size) >= size);
                    held.push((p, layout));
                }
                let (p, layout) = held.pop().expect("just pushed");
                // SAFETY: `p` was allocated with `layout` just above.
                let grown = unsafe { jemalloc.realloc(p, layout, size * 3) };
                assert_eq!(grown as usize % align, 0, "realloc {size} align {align}");
                let grown_layout = Layout::from_size_align(size * 3, align).expect("layout");
                held.push((grown, grown_layout));
            }
        }
        for (p, layout) in held {
            // SAFETY: each block was allocated (or reallocated) with this layout.
            unsafe { jemalloc.dealloc(p, layout) };
        }
    }

    #[test]
    fn zeroed_blocks_are_zero() {
        let layout = Layout::from_size_align(56, 16).expect("layout");
        // SAFETY: a non-zero size; freed below with the same layout.
        let p = unsafe { Jemalloc.alloc_zeroed(layout) };
        assert_eq!(p as usize % 16, 0);
        // SAFETY: `p` holds 56 initialised (zeroed) bytes.
        let bytes = unsafe { std::slice::from_raw_parts(p, 56) };
        assert!(bytes.iter().all(|&b| b == 0));
        // SAFETY: allocated above with `layout`.
        unsafe { Jemalloc.dealloc(p, layout) };
    }
}
