#include "rehearse_options.h"

namespace lastcall {
namespace {

constexpr std::string_view kShellHint =
    " (--app-cmd is split into words but not run by a shell: for pipes, redirections or "
    "variables use --app-cmd \"sh -c '...'\")";

bool IsSeparator(char c) { return c == ' ' || c == '\t' || c == '\n'; }

}  // namespace

std::optional<std::vector<std::string>> SplitCommandLine(std::string_view text,
                                                         std::string* error) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // a word has started (it may be empty: '')
  size_t i = 0;
  auto fail = [&](std::string problem) -> std::optional<std::vector<std::string>> {
    if (error != nullptr) *error = std::move(problem);
    return std::nullopt;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (IsSeparator(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    if (c == '\'') {
      const size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) {
        return fail("unterminated single quote at character " + std::to_string(i + 1));
      }
      word.append(text.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
      continue;
    }
    if (c == '"') {
      size_t j = i + 1;
      for (; j < text.size() && text[j] != '"'; ++j) {
        if (text[j] == '\\' && j + 1 < text.size() &&
            std::string_view("\"\\$`").find(text[j + 1]) != std::string_view::npos) {
          ++j;
        } else if (text[j] == '$' || text[j] == '`') {
          return fail(std::string("unquoted ") + text[j] + " inside double quotes at character " +
                      std::to_string(j + 1) + std::string(kShellHint));
        }
        word += text[j];
      }
      if (j >= text.size()) {
        return fail("unterminated double quote at character " + std::to_string(i + 1));
      }
      in_word = true;
      i = j + 1;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) return fail("trailing backslash");
      word += text[i + 1];
      in_word = true;
      i += 2;
      continue;
    }
    if (std::string_view("|;&<>`$()").find(c) != std::string_view::npos ||
        ((c == '~' || c == '#') && !in_word)) {
      return fail(std::string("shell operator ") + c + " at character " + std::to_string(i + 1) +
                  std::string(kShellHint));
    }
    word += c;
    in_word = true;
    ++i;
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return fail("no command");
  return words;
}

std::optional<std::vector<std::string>> ParsePathList(std::string_view text, std::string* error) {
  std::vector<std::string> paths;
  auto fail = [&](std::string problem) -> std::optional<std::vector<std::string>> {
    if (error != nullptr) *error = std::move(problem);
    return std::nullopt;
  };
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view path = text.substr(0, comma);
    if (path.empty()) return fail("empty path (paths are separated by commas: /a,/b)");
    if (path.front() != '/') {
      return fail("path \"" + std::string(path) + "\" does not start with /");
    }
    for (char c : path) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
        return fail("path \"" + std::string(path) +
                    "\" contains a space or control character (escape it as %20)");
      }
    }
    if (paths.size() == kMaxRehearsePaths) {
      return fail("more than " + std::to_string(kMaxRehearsePaths) + " paths");
    }
    paths.emplace_back(path);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return paths;
}

std::string ValidateReportPath(std::string_view path) {
  if (path.empty()) return "empty file name";
  for (std::string_view suffix : {".html", ".htm", ".json"}) {
    if (std::string_view(path).ends_with(suffix)) return "";
  }
  return "the file name must end in .html or .json (got \"" + std::string(path) + "\")";
}

}  // namespace lastcall
