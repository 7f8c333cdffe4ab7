// Thread names, as `top -H`, `perf` and debuggers show them, and thread priorities.
#pragma once

#include "evident/util/result.h"

namespace evident::util {

// Names the calling thread; Linux keeps the first 15 bytes. Never call it on the main thread,
// whose name is the process's.
void NameThisThread(const char* name);

// Lowers the calling thread's scheduling priority by `steps` nice levels (capped at 19), leaving
// the process's other threads as they are: on Linux a nice value belongs to a thread. Lowering
// needs no privilege. Errors: IOError from setpriority.
Status LowerThisThreadPriority(int steps);

// The calling thread's nice value.
int ThisThreadNice();

}  // namespace evident::util
