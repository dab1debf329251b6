#include "base/prometheus_text.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <system_error>
#include <utility>

#include "base/text.h"

namespace lastcall {

// RE2: what Prometheus itself uses (Go's regexp has RE2's syntax and semantics), and an
// automaton with no backtracking, so matching is linear in the value whatever the pattern
// (std::regex's backtracking turned a crafted selector on a large page into seconds per poll).
// Fully anchored, and '.' also matches a newline, as Prometheus anchors with ^(?s:re)$.
class LabelRegex {
 public:
  explicit LabelRegex(std::unique_ptr<RE2> regex) : regex_(std::move(regex)) {}
  bool Matches(std::string_view value) const {
    return RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *regex_);
  }

 private:
  std::unique_ptr<RE2> regex_;
};

namespace {

constexpr size_t kMaxRegexPatternBytes = 1024;
constexpr size_t kMaxRegexAtoms = 1000;

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsLabelStart(char c) { return IsAsciiLetter(c) || c == '_'; }
bool IsLabelChar(char c) { return IsLabelStart(c) || IsDigit(c); }
bool IsMetricStart(char c) { return IsLabelStart(c) || c == ':'; }
bool IsMetricChar(char c) { return IsLabelChar(c) || c == ':'; }

std::string Quoted(std::string_view text) { return QuoteSnippet(text, 80); }

// --- regex size -------------------------------------------------------------------------------

size_t SaturatingAdd(size_t a, size_t b) {
  constexpr size_t kCap = size_t{1} << 30;
  return std::min(kCap, a + b);
}
size_t SaturatingMul(size_t a, size_t b) {
  constexpr size_t kCap = size_t{1} << 30;
  if (a != 0 && b > kCap / a) return kCap;
  return std::min(kCap, a * b);
}

// Reads "{n}", "{n,}" or "{n,m}" at pattern[i]; returns the largest count it allows (n for
// "{n,}": one more copy than the minimum, then a loop) and moves i past it.
std::optional<size_t> ReadCountedRepetition(std::string_view pattern, size_t* i) {
  size_t j = *i + 1;
  auto read_number = [&](size_t* value) {
    const size_t start = j;
    *value = 0;
    while (j < pattern.size() && IsDigit(pattern[j])) {
      *value = SaturatingAdd(SaturatingMul(*value, 10), static_cast<size_t>(pattern[j] - '0'));
      ++j;
    }
    return j > start;
  };
  size_t low = 0;
  if (!read_number(&low)) return std::nullopt;
  size_t high = low;
  if (j < pattern.size() && pattern[j] == ',') {
    ++j;
    size_t bound = 0;
    if (read_number(&bound)) high = std::max(bound, low);
  }
  if (j >= pattern.size() || pattern[j] != '}') return std::nullopt;
  *i = j + 1;
  return high;
}

// An upper estimate of how many atoms `pattern` compiles to, counting the copies counted
// repetition makes. Syntax errors are left to RE2, which names them; this only bounds the size
// of what gets compiled, with a message that says why.
size_t EstimateRegexAtoms(std::string_view pattern) {
  struct Group {
    size_t total = 0;  // atoms of the finished pieces
    size_t last = 0;   // atoms of the piece a quantifier would apply to
  };
  std::vector<Group> groups(1);
  auto commit = [&] {
    groups.back().total = SaturatingAdd(groups.back().total, groups.back().last);
    groups.back().last = 0;
  };
  size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\') {
      commit();
      groups.back().last = 1;
      i += 2;
    } else if (c == '[') {
      commit();
      groups.back().last = 1;
      ++i;
      if (i < pattern.size() && pattern[i] == '^') ++i;
      if (i < pattern.size() && pattern[i] == ']') ++i;
      while (i < pattern.size() && pattern[i] != ']') {
        i += pattern[i] == '\\' ? size_t{2} : size_t{1};  // an escaped ']' does not close
      }
      ++i;
    } else if (c == '(') {
      commit();
      groups.emplace_back();
      ++i;
      if (i < pattern.size() && pattern[i] == '?') i += 2;
    } else if (c == ')') {
      commit();
      if (groups.size() > 1) {
        const size_t size = SaturatingAdd(groups.back().total, 2);
        groups.pop_back();
        groups.back().last = size;
      }
      ++i;
    } else if (c == '|') {
      commit();
      groups.back().total = SaturatingAdd(groups.back().total, 1);
      ++i;
    } else if (c == '*' || c == '+' || c == '?') {
      groups.back().last = SaturatingAdd(groups.back().last, 1);
      ++i;
      if (i < pattern.size() && pattern[i] == '?') ++i;  // lazy
    } else if (c == '{') {
      if (std::optional<size_t> count = ReadCountedRepetition(pattern, &i)) {
        groups.back().last = SaturatingMul(groups.back().last, SaturatingAdd(*count, 1));
      } else {
        commit();
        groups.back().last = 1;
        ++i;
      }
    } else {
      commit();
      groups.back().last = 1;
      ++i;
    }
  }
  size_t total = 0;
  for (Group& group : groups) total = SaturatingAdd(total, SaturatingAdd(group.total, group.last));
  return total;
}

// RE2's memory budget for one compiled pattern (program and DFA cache). Patterns that need more
// fail to compile at start-up; matching falls back to RE2's slower, still linear, NFA when the
// DFA cache fills.
constexpr int64_t kRegexMaxMemBytes = 1 << 20;

std::shared_ptr<const LabelRegex> CompileLabelRegex(std::string_view label,
                                                    const std::string& pattern,
                                                    std::string* error) {
  const std::string what = "the regex for label " + Quoted(label);
  if (pattern.size() > kMaxRegexPatternBytes) {
    *error = what + " is " + std::to_string(pattern.size()) + " bytes, over the limit of " +
             std::to_string(kMaxRegexPatternBytes);
    return nullptr;
  }
  if (EstimateRegexAtoms(pattern) > kMaxRegexAtoms) {
    *error = what + " is too complex (over " + std::to_string(kMaxRegexAtoms) +
             " atoms once counted repetition is expanded)";
    return nullptr;
  }
  RE2::Options options;
  options.set_log_errors(false);  // the error comes back here, with the label's name
  options.set_dot_nl(true);
  options.set_never_capture(true);
  options.set_max_mem(kRegexMaxMemBytes);
  auto regex = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (regex->ok()) return std::make_shared<const LabelRegex>(std::move(regex));
  const std::string& arg = regex->error_arg();
  if (regex->error_code() == RE2::ErrorBadEscape && arg.size() == 2 && arg[1] >= '1' &&
      arg[1] <= '9') {
    *error = what + " has a backreference (" + arg + "), which PromQL regexes do not support";
  } else {
    *error = what + " is invalid: " + regex->error();
  }
  return nullptr;
}

// --- selector ---------------------------------------------------------------------------------

class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : text_(text) {}

  std::optional<MetricSelector> Parse(std::string* error) {
    MetricSelector selector;
    if (!ParseAll(&selector)) {
      *error = error_;
      return std::nullopt;
    }
    return selector;
  }

 private:
  bool ParseAll(MetricSelector* selector) {
    SkipBlanks();
    if (AtEnd()) return Fail("the selector is empty: expected a metric name");
    if (!IsMetricStart(Peek())) {
      if (Peek() == '{') return Fail("expected a metric name before '{'");
      return Fail("expected a metric name, found " + Quoted(text_.substr(pos_, 1)));
    }
    const size_t start = pos_;
    while (!AtEnd() && IsMetricChar(Peek())) ++pos_;
    selector->name = std::string(text_.substr(start, pos_ - start));
    SkipBlanks();
    if (!AtEnd() && Peek() == '{') {
      ++pos_;
      if (!ParseMatchers(&selector->matchers)) return false;
    }
    SkipBlanks();
    if (!AtEnd())
      return Fail("unexpected " + Quoted(text_.substr(pos_, 20)) + " after the selector");
    return true;
  }

  bool ParseMatchers(std::vector<LabelMatcher>* matchers) {
    while (true) {
      SkipBlanks();
      if (AtEnd()) return Fail("expected a label name or '}'");
      if (Peek() == '}') {
        ++pos_;
        return true;
      }
      LabelMatcher matcher;
      if (!ParseMatcher(&matcher)) return false;
      matchers->push_back(std::move(matcher));
      SkipBlanks();
      if (AtEnd()) return Fail("expected ',' or '}'");
      if (Peek() == ',') {
        ++pos_;
      } else if (Peek() != '}') {
        return Fail("expected ',' or '}' after the matcher for label " +
                    Quoted(matchers->back().label));
      }
    }
  }

  bool ParseMatcher(LabelMatcher* matcher) {
    if (!IsLabelStart(Peek())) return Fail("expected a label name or '}'");
    const size_t start = pos_;
    while (!AtEnd() && IsLabelChar(Peek())) ++pos_;
    matcher->label = std::string(text_.substr(start, pos_ - start));
    if (matcher->label == "__name__") {
      pos_ = start;
      return Fail("__name__ matchers are not supported: put the metric name before '{'");
    }
    SkipBlanks();
    const std::string_view rest = text_.substr(pos_);
    if (rest.starts_with("=~")) {
      matcher->op = LabelMatchOp::kRegexMatch;
    } else if (rest.starts_with("!~")) {
      matcher->op = LabelMatchOp::kRegexNoMatch;
    } else if (rest.starts_with("!=")) {
      matcher->op = LabelMatchOp::kNotEqual;
    } else if (rest.starts_with("=")) {
      matcher->op = LabelMatchOp::kEqual;
    } else {
      return Fail("expected '=', '!=', '=~' or '!~' after label " + Quoted(matcher->label));
    }
    pos_ += matcher->op == LabelMatchOp::kEqual ? 1 : 2;
    SkipBlanks();
    const size_t value_start = pos_;
    if (!ParseString(matcher->label, &matcher->value)) return false;
    if (matcher->op == LabelMatchOp::kRegexMatch || matcher->op == LabelMatchOp::kRegexNoMatch) {
      std::string regex_error;
      matcher->regex = CompileLabelRegex(matcher->label, matcher->value, &regex_error);
      if (!matcher->regex) {
        pos_ = value_start;
        return Fail(regex_error);
      }
    }
    return true;
  }

  // A PromQL string: "..." or '...' with Go's common escapes, or `...` taken as is.
  bool ParseString(const std::string& label, std::string* out) {
    if (AtEnd() || (Peek() != '"' && Peek() != '\'' && Peek() != '`')) {
      return Fail("expected a quoted value for label " + Quoted(label));
    }
    const char quote = text_[pos_++];
    while (!AtEnd() && Peek() != quote) {
      const char c = text_[pos_++];
      if (c != '\\' || quote == '`') {
        *out += c;
        continue;
      }
      if (AtEnd()) break;
      const char escaped = text_[pos_++];
      switch (escaped) {
        case '\\':
        case '"':
        case '\'':
          *out += escaped;
          break;
        case 'n':
          *out += '\n';
          break;
        case 't':
          *out += '\t';
          break;
        case 'r':
          *out += '\r';
          break;
        default:
          pos_ -= 2;
          return Fail("unknown escape " + Quoted(text_.substr(pos_, 2)) +
                      " in the value of label " + Quoted(label) +
                      " (a regex needs \"\\\\d\", or use `backticks`)");
      }
    }
    if (AtEnd()) return Fail("the value of label " + Quoted(label) + " is not closed");
    ++pos_;
    return true;
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }
  void SkipBlanks() {
    while (!AtEnd() && (IsBlank(Peek()) || Peek() == '\n' || Peek() == '\r')) ++pos_;
  }
  bool Fail(const std::string& what) {
    error_ = "column " + std::to_string(pos_ + 1) + ": " + what;
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

// --- exposition -------------------------------------------------------------------------------

// Prometheus accepts what Go's strconv.ParseFloat does; from_chars covers the forms exporters
// write (decimal, exponent, NaN, Inf in any case) except a leading '+'.
bool ParseFloat(std::string_view token, double* value) {
  if (token.starts_with('+')) {
    token.remove_prefix(1);
    if (token.starts_with('+') || token.starts_with('-')) return false;
  }
  if (token.empty()) return false;
  const char* end = token.data() + token.size();
  auto [ptr, ec] = std::from_chars(token.data(), end, *value, std::chars_format::general);
  return ec == std::errc() && ptr == end;
}

// Label values in the exposition escape only \\, \" and \n; Prometheus keeps other backslashes
// as they are, and so does this.
void UnescapeLabelValue(std::string_view raw, std::string* out) {
  out->clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size()) {
      const char next = raw[i + 1];
      if (next == '\\' || next == '"' || next == 'n') {
        *out += next == 'n' ? '\n' : next;
        ++i;
        continue;
      }
    }
    *out += raw[i];
  }
}

class ExpositionScanner {
 public:
  explicit ExpositionScanner(const MetricSelector& selector)
      : selector_(selector),
        values_(selector.matchers.size()),
        seen_(selector.matchers.size(), false) {
    families_.push_back(selector.name);
    static constexpr std::string_view kSuffixes[] = {"_total",  "_created", "_count", "_sum",
                                                     "_bucket", "_gcount",  "_gsum",  "_info"};
    const std::string_view name = selector.name;
    for (std::string_view suffix : kSuffixes) {
      if (name.size() > suffix.size() && name.ends_with(suffix)) {
        families_.push_back(name.substr(0, name.size() - suffix.size()));
      }
    }
  }

  PrometheusSum Scan(std::string_view text, std::chrono::steady_clock::time_point deadline) {
    PrometheusSum out;
    size_t line_number = 0;
    size_t eof_line = 0;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(start, end - start);
      start = end + 1;
      ++line_number;
      // Reading the clock every 32 lines costs nothing measurable and stops a page that
      // cannot be scanned in time within a fraction of a millisecond of the deadline.
      if (line_number % 32 == 0 && std::chrono::steady_clock::now() >= deadline) {
        out.deadline_passed = true;
        out.error = "the deadline passed at line " + std::to_string(line_number) + " of the page";
        return out;
      }
      if (line.ends_with('\r')) line.remove_suffix(1);
      size_t first = 0;
      while (first < line.size() && IsBlank(line[first])) ++first;
      if (first == line.size()) continue;
      std::string what;
      if (eof_line != 0) {
        what = "text after # EOF (line " + std::to_string(eof_line) + ")";
      } else if (line[first] == '#') {
        if (ScanComment(line.substr(first + 1), &out)) eof_line = line_number;
        continue;
      } else if (ScanSample(line, &out, &what)) {
        continue;
      }
      out.error = "line " + std::to_string(line_number) + ": " + what + ": " + Quoted(line);
      return out;
    }
    return out;
  }

 private:
  // Returns true for `# EOF`. Notes HELP/TYPE/UNIT lines that declare the selector's family.
  bool ScanComment(std::string_view rest, PrometheusSum* out) {
    auto next_token = [&rest] {
      size_t i = 0;
      while (i < rest.size() && IsBlank(rest[i])) ++i;
      size_t j = i;
      while (j < rest.size() && !IsBlank(rest[j])) ++j;
      std::string_view token = rest.substr(i, j - i);
      rest.remove_prefix(j);
      return token;
    };
    const std::string_view keyword = next_token();
    if (keyword == "EOF") return next_token().empty();
    if (keyword == "HELP" || keyword == "TYPE" || keyword == "UNIT") {
      const std::string_view name = next_token();
      if (std::find(families_.begin(), families_.end(), name) != families_.end()) {
        out->name_seen = true;
      }
    }
    return false;
  }

  bool ScanSample(std::string_view line, PrometheusSum* out, std::string* what) {
    size_t i = 0;
    auto skip_blanks = [&] {
      while (i < line.size() && IsBlank(line[i])) ++i;
    };
    skip_blanks();
    if (!IsMetricStart(line[i])) {
      *what = "expected a metric name";
      return false;
    }
    const size_t name_start = i;
    while (i < line.size() && IsMetricChar(line[i])) ++i;
    const std::string_view name = line.substr(name_start, i - name_start);
    const bool selected = name == selector_.name;
    if (selected) {
      out->name_seen = true;
      std::fill(seen_.begin(), seen_.end(), false);
    }
    skip_blanks();
    if (i < line.size() && line[i] == '{') {
      ++i;
      if (!ScanLabels(line, &i, selected, what)) return false;
    }
    skip_blanks();
    const size_t value_start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    const std::string_view value_text = line.substr(value_start, i - value_start);
    double value = 0;
    if (value_text.empty()) {
      *what = "expected a value after " + Quoted(name);
      return false;
    }
    if (!ParseFloat(value_text, &value)) {
      *what = "invalid value " + Quoted(value_text);
      return false;
    }
    skip_blanks();
    // A '#' here starts an OpenMetrics exemplar, which never changes the sample's value.
    if (i < line.size() && line[i] != '#') {
      const size_t stamp_start = i;
      while (i < line.size() && !IsBlank(line[i])) ++i;
      const std::string_view stamp = line.substr(stamp_start, i - stamp_start);
      double ignored = 0;
      if (!ParseFloat(stamp, &ignored)) {
        *what = "invalid timestamp " + Quoted(stamp);
        return false;
      }
      skip_blanks();
      if (i < line.size() && line[i] != '#') {
        *what = "unexpected text after the timestamp";
        return false;
      }
    }
    ++out->samples;
    if (!selected) return true;
    bool matches = false;
    if (!MatchLabels(&matches, what)) return false;
    if (!matches) return true;
    ++out->matched;
    if (std::isnan(value)) {
      ++out->nan_skipped;
    } else {
      out->sum += value;
    }
    return true;
  }

  // Scans `a="x", b="y"}` from *i. Values of labels the selector mentions are kept when the
  // sample's name is the selected one; the rest are only checked.
  bool ScanLabels(std::string_view line, size_t* i, bool selected, std::string* what) {
    size_t& pos = *i;
    auto skip_blanks = [&] {
      while (pos < line.size() && IsBlank(line[pos])) ++pos;
    };
    while (true) {
      skip_blanks();
      if (pos >= line.size()) {
        *what = "the label set is not closed with '}'";
        return false;
      }
      if (line[pos] == '}') {
        ++pos;
        return true;
      }
      if (!IsLabelStart(line[pos])) {
        *what = "expected a label name or '}'";
        return false;
      }
      const size_t label_start = pos;
      while (pos < line.size() && IsLabelChar(line[pos])) ++pos;
      const std::string_view label = line.substr(label_start, pos - label_start);
      skip_blanks();
      if (pos >= line.size() || line[pos] != '=') {
        *what = "expected '=' after label " + Quoted(label);
        return false;
      }
      ++pos;
      skip_blanks();
      if (pos >= line.size() || line[pos] != '"') {
        *what = "expected '\"' to open the value of label " + Quoted(label);
        return false;
      }
      ++pos;
      const size_t value_start = pos;
      while (pos < line.size() && line[pos] != '"') {
        pos += line[pos] == '\\' ? size_t{2} : size_t{1};  // an escaped '"' does not close
      }
      if (pos >= line.size()) {
        *what = "the value of label " + Quoted(label) + " is not closed";
        return false;
      }
      const std::string_view raw = line.substr(value_start, pos - value_start);
      ++pos;
      if (selected && !KeepLabel(label, raw, what)) return false;
      skip_blanks();
      if (pos < line.size() && line[pos] == ',') {
        ++pos;
      } else if (pos >= line.size() || line[pos] != '}') {
        *what = "expected ',' or '}' after the value of label " + Quoted(label);
        return false;
      }
    }
  }

  bool KeepLabel(std::string_view label, std::string_view raw, std::string* what) {
    for (size_t m = 0; m < selector_.matchers.size(); ++m) {
      if (selector_.matchers[m].label != label) continue;
      if (seen_[m]) {
        *what = "label " + Quoted(label) + " appears twice";
        return false;
      }
      seen_[m] = true;
      UnescapeLabelValue(raw, &values_[m]);
    }
    return true;
  }

  // Equality matchers run first, so regexes run only on samples still in the running.
  bool MatchLabels(bool* matches, std::string* what) const {
    *matches = false;
    for (bool regex_pass : {false, true}) {
      for (size_t m = 0; m < selector_.matchers.size(); ++m) {
        const LabelMatcher& matcher = selector_.matchers[m];
        const bool is_regex =
            matcher.op == LabelMatchOp::kRegexMatch || matcher.op == LabelMatchOp::kRegexNoMatch;
        if (is_regex != regex_pass) continue;
        const std::string_view value = seen_[m] ? std::string_view(values_[m]) : "";
        bool ok = false;
        switch (matcher.op) {
          case LabelMatchOp::kEqual:
            ok = value == matcher.value;
            break;
          case LabelMatchOp::kNotEqual:
            ok = value != matcher.value;
            break;
          case LabelMatchOp::kRegexMatch:
          case LabelMatchOp::kRegexNoMatch:
            if (value.size() > kMaxRegexInputBytes) {
              *what = "the value of label " + Quoted(matcher.label) + " is " +
                      std::to_string(value.size()) + " bytes, over the " +
                      std::to_string(kMaxRegexInputBytes) + " a regex matcher examines";
              return false;
            }
            ok = matcher.regex->Matches(value) == (matcher.op == LabelMatchOp::kRegexMatch);
            break;
        }
        if (!ok) return true;
      }
    }
    *matches = true;
    return true;
  }

  const MetricSelector& selector_;
  std::vector<std::string_view> families_;  // names whose HELP/TYPE/UNIT declare the selector
  std::vector<std::string> values_;         // per matcher: the sample's value of its label
  std::vector<bool> seen_;                  // per matcher: the sample has its label
};

void AppendEscapedValue(std::string_view value, std::string* out) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      *out += '\\';
      *out += c;
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

}  // namespace

std::string MetricSelector::ToString() const {
  std::string out = name;
  if (matchers.empty()) return out;
  out += '{';
  for (size_t i = 0; i < matchers.size(); ++i) {
    if (i > 0) out += ',';
    out += matchers[i].label;
    switch (matchers[i].op) {
      case LabelMatchOp::kEqual:
        out += "=";
        break;
      case LabelMatchOp::kNotEqual:
        out += "!=";
        break;
      case LabelMatchOp::kRegexMatch:
        out += "=~";
        break;
      case LabelMatchOp::kRegexNoMatch:
        out += "!~";
        break;
    }
    out += '"';
    AppendEscapedValue(matchers[i].value, &out);
    out += '"';
  }
  out += '}';
  return out;
}

std::optional<MetricSelector> ParseMetricSelector(std::string_view text, std::string* error) {
  return SelectorParser(text).Parse(error);
}

PrometheusSum SumMatchingSamples(std::string_view exposition, const MetricSelector& selector,
                                 std::chrono::steady_clock::time_point deadline) {
  return ExpositionScanner(selector).Scan(exposition, deadline);
}

}  // namespace lastcall
