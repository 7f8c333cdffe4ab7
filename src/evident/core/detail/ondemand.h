// Helpers over simdjson's on-demand API (3.0.1) shared by core's parsers.
#pragma once

#include <simdjson.h>

#include <string>

#include "evident/core/canonical_json.h"
#include "evident/util/result.h"

namespace evident::core::detail {

// True when nothing but whitespace follows what has been read. simdjson 3.0.1 documents have no
// at_end(); current_location() reports OUT_OF_BOUNDS once the input is used up.
inline bool AtEnd(simdjson::ondemand::document& doc) {
  return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

// Appends the canonical form of `object`, read in place from the document that holds it (no
// second parse), with CanonicalizeJson's redaction and errors. On error `out` is unchanged.
util::Status CanonicalizeObject(simdjson::ondemand::object object,
                                const CanonicalizeOptions& options, std::string& out);

}  // namespace evident::core::detail
