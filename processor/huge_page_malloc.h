// Transparent huge pages for malloc's memory, asked of glibc at start-up.
//
// A page of memory touched for the first time costs ~13 µs per 4 KiB on this VM, a huge page
// ~0.3 µs per 4 KiB (docs/performance.md), and the engine's state is hundreds of MiB of fresh
// memory. glibc's malloc advises its memory for transparent huge pages with the tunable
// glibc.malloc.hugetlb=1, but reads its tunables only when a process starts: a process cannot
// set them for itself. So meterflow starts itself again, once, with the tunable set.
#pragma once

namespace meterflow {

// Re-executes this program (/proc/self/exe, same arguments, same process id) with
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1, unless GLIBC_TUNABLES is set already (an operator's
// own setting, even an empty one, is kept as it is: `GLIBC_TUNABLES= meterflow ...` opts out)
// or this is not glibc. Returns only when it did not re-execute. Call first thing in main().
// The kernel decides in the end: with /sys/kernel/mm/transparent_hugepage/enabled at "never",
// the advice does nothing.
void use_huge_page_malloc(char** argv);

}  // namespace meterflow
