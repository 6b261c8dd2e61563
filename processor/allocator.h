// meterflow's memory allocator: mimalloc, with its memory in transparent huge pages.
//
// The meterflow executable links mimalloc, which replaces malloc and operator new for the whole
// process (RocksDB and librdkafka included). With "large OS pages" it takes memory from the
// kernel in 2 MiB-aligned segments advised for transparent huge pages. Why: a page of memory
// touched for the first time costs ~13 µs per 4 KiB on the benchmark VM, a huge page ~0.3 µs per
// 4 KiB (docs/performance.md), and glibc's malloc gives each thread's arena 4 KiB pages (its
// tunable glibc.malloc.hugetlb=1 advises the main heap only). Measured on the benchmark VM:
// page faults of `meterflow run` -40 %, its events/s +1-11 %, offline rating +5-30 %, peak RSS
// ~100 MiB higher (docs/performance.md, "2026-12-06 07:00 UTC").
// Freed memory stays committed (mimalloc's allow_decommit off): returned to the kernel, it came
// back as fresh pages to fault in again (run CPU -10-15 %, peak RSS +40-60 MiB; "2026-12-06
// 12:00 UTC").
#pragma once

namespace meterflow {

// Turns mimalloc's large OS pages on and its decommitting of freed memory off, each unless the
// operator set it (MIMALLOC_LARGE_OS_PAGES, MIMALLOC_ALLOW_DECOMMIT: 0 or 1, wins). Call first
// thing in main(): it affects memory taken from then on.
void configure_allocator();

}  // namespace meterflow
