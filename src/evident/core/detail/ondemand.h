// Helpers over simdjson's on-demand API (3.0.1) shared by core's parsers.
#pragma once

#include <simdjson.h>

namespace evident::core::detail {

// True when nothing but whitespace follows what has been read. simdjson 3.0.1 documents have no
// at_end(); current_location() reports OUT_OF_BOUNDS once the input is used up.
inline bool AtEnd(simdjson::ondemand::document& doc) {
  return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

}  // namespace evident::core::detail
