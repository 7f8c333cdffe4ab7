// Base64 (RFC 4648, standard and URL-safe) and hex; thin wrappers over libsodium's
// constant-time codecs.
#pragma once

#include <string>
#include <string_view>

#include "evident/util/result.h"

namespace evident::util {

enum class Base64Variant { kStandard, kUrlNoPadding };

std::string Base64Encode(std::string_view bytes, Base64Variant variant = Base64Variant::kStandard);
// Errors: InvalidArgument when `text` is not canonical base64 of the given variant.
Result<std::string> Base64Decode(std::string_view text,
                                 Base64Variant variant = Base64Variant::kStandard);

std::string HexEncode(std::string_view bytes);

}  // namespace evident::util
