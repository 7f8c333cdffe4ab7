// Thread names, as `top -H`, `perf` and debuggers show them.
#pragma once

namespace evident::util {

// Names the calling thread; Linux keeps the first 15 bytes. Never call it on the main thread,
// whose name is the process's.
void NameThisThread(const char* name);

}  // namespace evident::util
