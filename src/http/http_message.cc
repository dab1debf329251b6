#include "http/http_message.h"

namespace lastcall {

std::string_view ToString(HttpError error) {
  switch (error) {
    case HttpError::kNone:
      return "none";
    case HttpError::kRefused:
      return "refused";
    case HttpError::kTimeout:
      return "timeout";
    case HttpError::kReset:
      return "reset";
    case HttpError::kMalformed:
      return "malformed";
    case HttpError::kOther:
      return "other";
  }
  return "unknown";
}

}  // namespace lastcall
