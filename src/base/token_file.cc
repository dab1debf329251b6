#include "base/token_file.h"

#include "base/logging.h"
#include "base/text.h"

namespace lastcall {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

}  // namespace

std::optional<std::string> ParseToken(std::string_view text, std::string* error) {
  if (text.starts_with(kByteOrderMark)) text.remove_prefix(kByteOrderMark.size());
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  if (text.empty()) {
    *error = "is empty";
    return std::nullopt;
  }
  if (text.size() > kMaxTokenFileBytes) {
    *error = "longer than 4 KiB; is it the right file?";
    return std::nullopt;
  }
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      *error = "contains control characters (a token is one line of text)";
      return std::nullopt;
    }
  }
  return std::string(text);
}

std::optional<std::string> ReadToken(const std::string& path, std::string* error,
                                     std::optional<FileIdentity>* identity) {
  // Room for whitespace around a token of the maximal length.
  constexpr size_t kSlack = 64;
  const SmallFile file = ReadSmallFile(path, kMaxTokenFileBytes + kSlack);
  if (identity != nullptr) {
    *identity = file.ok() ? std::optional(file.identity) : std::nullopt;
  }
  if (!file.ok()) {
    *error = file.error == SmallFileError::kTooLarge ? "longer than 4 KiB; is it the right file?"
                                                     : file.reason;
    return std::nullopt;
  }
  return ParseToken(file.text, error);
}

TokenFile::TokenFile(std::string path) : path_(std::move(path)) {
  std::lock_guard lock(mu_);
  Reload();
}

std::optional<std::string> TokenFile::Current() {
  std::lock_guard lock(mu_);
  if (StatIdentity(path_) != identity_ || !identity_) Reload();
  return token_;
}

void TokenFile::Reload() {
  const bool had_token = token_.has_value();
  std::string problem;
  std::optional<std::string> token = ReadToken(path_, &problem, &identity_);
  if (token) {
    if (had_token && token != token_) LogInfo("control token reloaded", {{"path", path_}});
    if (!had_token && !problem_.empty()) {
      LogInfo("control token readable again", {{"path", path_}});
    }
    problem_.clear();
  } else if (problem != problem_) {
    LogWarn("control token unavailable: no token is accepted until the file is fixed",
            {{"path", path_}, {"error", problem}});
    problem_ = problem;
  }
  token_ = std::move(token);
}

}  // namespace lastcall
