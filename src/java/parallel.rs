//! Mapping a slice on every core with results in input order: how class entries are inflated
//! and classes analysed.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` over `items` on up to every core, results in input order. Workers take `chunk` items at a
/// time from a shared counter (so a few expensive items do not leave a core idle) and each keeps
/// its own `state` from `init` (e.g. a reusable inflater). One thread per `per_thread` items at
/// most: small inputs stay on the calling thread. Items of a worker that panicked (never seen:
/// the work is fuzzed) get `lost(index)`.
pub(crate) fn map_in_order<T, S, R>(
    items: &[T],
    per_thread: usize,
    chunk: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
    lost: impl Fn(usize) -> R,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / per_thread.max(1) + 1);
    if threads <= 1 {
        let mut state = init();
        return items.iter().map(|item| f(&mut state, item)).collect();
    }
    let chunk = chunk.max(1);
    let next = AtomicUsize::new(0);
    let mut chunks: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut state = init();
                    let mut done = Vec::new();
                    loop {
                        let start = next.fetch_add(chunk, Ordering::Relaxed);
                        if start >= items.len() {
                            break;
                        }
                        let part = &items[start..(start + chunk).min(items.len())];
                        done.push((start, part.iter().map(|item| f(&mut state, item)).collect()));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    chunks.sort_by_key(|(start, _)| *start);
    let mut out = Vec::with_capacity(items.len());
    for (start, results) in chunks {
        while out.len() < start {
            out.push(lost(out.len()));
        }
        out.extend(results);
    }
    while out.len() < items.len() {
        out.push(lost(out.len()));
    }
    out
}

/// Hands the memory freed after a big parallel load back to the system. glibc keeps what the
/// worker threads freed (parse trees, inflated class bytes) in their own arenas, where the
/// thread that goes on (building Views) never reuses it: without this the process keeps its
/// load-time peak on top of what it allocates afterwards. A no-op elsewhere.
///
/// Done on a thread of its own (a few milliseconds for a big build, which the caller need not
/// wait for): glibc locks each arena while trimming it, so it runs safely beside the caller's
/// allocations. Done here when no thread can be started.
pub(crate) fn release_free_memory_soon() {
    let spawned = std::thread::Builder::new()
        .name("covtop-trim".into())
        .spawn(release_free_memory);
    if spawned.is_err() {
        release_free_memory();
    }
}

/// [`release_free_memory_soon`], done before returning.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim takes no pointers and may be called at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_input_order_with_per_worker_state() {
        let items: Vec<u64> = (0..10_000).collect();
        for (per_thread, chunk) in [(1, 1), (1, 16), (64, 7), (100_000, 1)] {
            let out = map_in_order(
                &items,
                per_thread,
                chunk,
                || 0u64,
                |seen, x| {
                    *seen += 1;
                    x * 2
                },
                |_| u64::MAX,
            );
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        let none: Vec<u64> = map_in_order(&[], 1, 1, || (), |_, x: &u64| *x, |_| 0);
        assert!(none.is_empty());
    }
}
