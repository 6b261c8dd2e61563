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
#pragma once

namespace meterflow {

// Turns mimalloc's large OS pages on unless MIMALLOC_LARGE_OS_PAGES is set (an operator's own
// setting, 0 or 1, wins). Call first thing in main(): it affects memory taken from then on.
void configure_allocator();

}  // namespace meterflow
