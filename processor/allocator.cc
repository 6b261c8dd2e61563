#include "processor/allocator.h"

#include <cstdlib>

#include <mimalloc.h>

namespace meterflow {

void configure_allocator() {
  if (std::getenv("MIMALLOC_LARGE_OS_PAGES") == nullptr)
    mi_option_enable(mi_option_large_os_pages);
  if (std::getenv("MIMALLOC_ALLOW_DECOMMIT") == nullptr)
    mi_option_disable(mi_option_allow_decommit);
}

}  // namespace meterflow
