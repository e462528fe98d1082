//! Letting the filters' threads run first: the activity writer asks the kernel for the longest
//! time slice there is.
//!
//! Since Linux 6.12 the fair scheduler (EEVDF) lets a thread ask for its own slice length
//! (`sched_setattr`, `sched_runtime`). A thread that wakes with a shorter slice than the one
//! running preempts it; with a long slice, the writer (and the SQLite thread it starts, which
//! inherits the setting) is preempted by every DNS worker, proxy task or upstream that wakes,
//! instead of holding the core for the rest of a slice while it commits a batch. Its share of
//! the CPU is unchanged (that is its nice value, untouched), so unlike a lower priority or
//! `SCHED_IDLE` it still keeps up under load. Measured on two cores (docs/benchmarks.md): p99
//! at 5,000 DNS queries a second 1.5–2.3 ms without, 0.55–1.48 ms with (fourteen trials,
//! alternated). Older kernels ignore the request.

/// The longest slice the kernel accepts (it clamps to 0.1–100 ms).
#[cfg(target_os = "linux")]
const LONGEST_SLICE_NS: u64 = 100_000_000;

/// Asks for the longest slice for the calling thread and the threads it starts from now on.
/// Best effort: a kernel that refuses leaves the thread as it was, with a debug log.
pub(crate) fn yield_to_waking_threads() {
    #[cfg(target_os = "linux")]
    linux::set_own_slice(LONGEST_SLICE_NS);
}

#[cfg(target_os = "linux")]
mod linux {
    /// `struct sched_attr` (include/uapi/linux/sched/types.h), first version: 56 bytes.
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        sched_policy: u32,
        sched_flags: u64,
        sched_nice: i32,
        sched_priority: u32,
        sched_runtime: u64,
        sched_deadline: u64,
        sched_period: u64,
        sched_util_min: u32,
        sched_util_max: u32,
    }

    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;

    pub(super) fn set_own_slice(slice_ns: u64) {
        let size = std::mem::size_of::<SchedAttr>() as u32;
        let mut attr = SchedAttr::default();
        // SAFETY: `attr` is a valid, writable `struct sched_attr` of `size` bytes, and pid 0
        // is the calling thread; the kernel writes at most `size` bytes into it.
        let got = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                0,
                &mut attr as *mut SchedAttr,
                size,
                0,
            )
        };
        if got != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "sched_getattr failed; keeping the default slice");
            return;
        }
        // Slices belong to the fair classes; leave a real-time or idle setting alone.
        if !matches!(attr.sched_policy, SCHED_OTHER | SCHED_BATCH) {
            return;
        }
        // Everything as it was (policy, nice, utilisation hints), but the slice.
        attr.size = size;
        attr.sched_flags = 0;
        attr.sched_runtime = slice_ns;
        // SAFETY: `attr` is a valid `struct sched_attr` of `size` bytes that the kernel only
        // reads; pid 0 is the calling thread.
        let set =
            unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
        if set != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "sched_setattr failed; keeping the default slice");
        }
    }
}
