#include "kubeapi/endpoint_slices.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

namespace lastcall::kubeapi {
namespace {

using Json = nlohmann::json;

// Where a value sits: the keys from the root, "[]" for an array's element.
using Path = std::vector<std::string>;

bool PathIs(const Path& path, size_t from, std::initializer_list<std::string_view> rest) {
  if (path.size() != from + rest.size()) return false;
  size_t i = from;
  for (std::string_view part : rest) {
    if (path[i++] != part) return false;
  }
  return true;
}

// Reads an EndpointSliceList page or a watch event as a stream of SAX events, keeping only the
// fields the tracker needs: memory stays at the path and the pod's endpoints.
class SliceReader final : public nlohmann::json_sax<Json> {
 public:
  enum class Shape { kList, kWatchEvent };
  SliceReader(Shape shape, std::string_view pod_uid) : shape_(shape), pod_uid_(pod_uid) {}

  const std::string& error() const { return error_; }
  SliceListPage& page() { return page_; }
  SliceWatchEvent& event() { return event_; }
  const std::string& type() const { return type_; }
  const std::string& object_kind() const { return object_kind_; }
  bool has_object() const { return has_object_; }

  bool null() override { return Scalar(Value{}); }
  bool boolean(bool val) override {
    Value v;
    v.is_bool = true;
    v.boolean = val;
    return Scalar(v);
  }
  bool number_integer(number_integer_t val) override { return Integer(val); }
  bool number_unsigned(number_unsigned_t val) override {
    return Integer(val > 1'000'000 ? 1'000'000 : static_cast<long long>(val));
  }
  bool number_float(number_float_t /*val*/, const string_t& /*s*/) override {
    return Scalar(Value{});
  }
  bool string(string_t& val) override {
    Value v;
    v.is_string = true;
    v.text = &val;
    return Scalar(v);
  }
  bool binary(binary_t& /*val*/) override { return Scalar(Value{}); }

  bool start_object(std::size_t /*elements*/) override {
    if (!Enter()) return false;
    const size_t root = SliceRoot();
    if (root != kNone && path_.size() == root) {
      slice_ = SliceOfPod{};
      in_slice_ = true;
      if (shape_ == Shape::kWatchEvent) has_object_ = true;
    } else if (in_slice_ && PathIs(path_, SliceRoot(), {"endpoints", "[]"})) {
      endpoint_ = Endpoint{};
      in_endpoint_ = true;
      endpoint_index_ += 1;
    }
    path_.emplace_back();  // the key to come
    return true;
  }
  bool key(string_t& val) override {
    path_.back() = val;
    return true;
  }
  bool end_object() override {
    path_.pop_back();
    depth_ -= 1;
    const size_t root = SliceRoot();
    if (in_endpoint_ && PathIs(path_, root, {"endpoints", "[]"})) {
      in_endpoint_ = false;
      if (!endpoint_.uid.empty() && endpoint_.uid == pod_uid_) {
        // Several endpoints of the pod in one slice (not written by Kubernetes' controller):
        // any ready one still routes traffic here.
        slice_.ready = slice_.holds_pod ? (slice_.ready || endpoint_.ready) : endpoint_.ready;
        slice_.serving =
            slice_.holds_pod ? (slice_.serving || endpoint_.serving) : endpoint_.serving;
        slice_.terminating = slice_.holds_pod ? (slice_.terminating && endpoint_.terminating)
                                              : endpoint_.terminating;
        slice_.holds_pod = true;
      }
    } else if (in_slice_ && root != kNone && path_.size() == root) {
      in_slice_ = false;
      endpoint_index_ = 0;
      if (shape_ == Shape::kList) {
        page_.items += 1;
        if (slice_.holds_pod) page_.slices.push_back(std::move(slice_));
      } else {
        event_.slice = std::move(slice_);
      }
    }
    return true;
  }
  bool start_array(std::size_t /*elements*/) override {
    if (!Enter()) return false;
    path_.emplace_back("[]");
    return true;
  }
  bool end_array() override {
    path_.pop_back();
    depth_ -= 1;
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*ex*/) override {
    if (error_.empty()) error_ = fmt::format("not valid JSON (at byte {})", position);
    return false;
  }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);
  struct Value {
    bool is_bool = false;
    bool boolean = false;
    bool is_string = false;
    const std::string* text = nullptr;
    bool is_integer = false;
    long long integer = 0;
  };
  struct Endpoint {
    std::string uid;
    bool ready = true;
    bool serving = true;
    bool terminating = false;
    bool serving_set = false;
  };

  bool Enter() {
    depth_ += 1;
    if (depth_ > kMaxJsonDepth) {
      error_ = fmt::format("nested deeper than {} levels", kMaxJsonDepth);
      return false;
    }
    return true;
  }

  // The path length of a slice object: items[] in a list, object in a watch event.
  size_t SliceRoot() const {
    if (shape_ == Shape::kList) {
      return path_.size() >= 2 && path_[0] == "items" && path_[1] == "[]" ? 2 : kNone;
    }
    return !path_.empty() && path_[0] == "object" ? 1 : kNone;
  }

  bool Integer(long long val) {
    Value v;
    v.is_integer = true;
    v.integer = val;
    return Scalar(v);
  }

  bool Fail(std::string_view what, std::string_view expected) {
    error_ = fmt::format("{} is not {}", what, expected);
    return false;
  }

  // A field of a slice (or, in a watch event, of the Status object) the tracker reads.
  bool Scalar(const Value& v) {
    const size_t root = SliceRoot();
    if (shape_ == Shape::kList && root == kNone) {
      if (PathIs(path_, 0, {"metadata", "resourceVersion"}))
        return Text(v, &page_.resource_version);
      if (PathIs(path_, 0, {"metadata", "continue"})) return Text(v, &page_.continue_token);
      return true;
    }
    if (shape_ == Shape::kWatchEvent && root == kNone) {
      if (PathIs(path_, 0, {"type"})) return Text(v, &type_);
      return true;
    }
    if (!in_slice_) return true;
    if (PathIs(path_, root, {"metadata", "name"})) return Text(v, &slice_.name);
    if (PathIs(path_, root, {"metadata", "resourceVersion"})) {
      return Text(v, &slice_.resource_version);
    }
    if (PathIs(path_, root, {"addressType"})) return Text(v, &slice_.address_type);
    if (shape_ == Shape::kWatchEvent && path_.size() == root + 1) {
      // An ERROR event's object is a Status.
      if (path_[root] == "kind") return Text(v, &object_kind_);
      if (path_[root] == "code") {
        if (v.is_integer) event_.code = static_cast<int>(v.integer);
        return true;
      }
      if (path_[root] == "reason") return Text(v, &event_.reason);
      if (path_[root] == "message") return Text(v, &event_.message);
    }
    if (!in_endpoint_) return true;
    if (PathIs(path_, root, {"endpoints", "[]", "targetRef", "uid"})) {
      return Text(v, &endpoint_.uid);
    }
    for (const char* condition : {"ready", "serving", "terminating"}) {
      if (!PathIs(path_, root, {"endpoints", "[]", "conditions", condition})) continue;
      if (!v.is_bool && (v.is_string || v.is_integer)) {
        return Fail(fmt::format("endpoints[{}].conditions.{}", endpoint_index_ - 1, condition),
                    "a boolean");
      }
      if (!v.is_bool) return true;  // null: unknown, the API's default reading stands
      const std::string_view name = condition;
      if (name == "ready") endpoint_.ready = v.boolean;
      if (name == "serving") endpoint_.serving = v.boolean;
      if (name == "terminating") endpoint_.terminating = v.boolean;
      return true;
    }
    return true;
  }

  bool Text(const Value& v, std::string* out) {
    if (v.is_string) {
      *out = *v.text;
      return true;
    }
    if (!v.is_bool && !v.is_integer) return true;  // null: absent
    std::string where;
    for (const std::string& part : path_) {
      if (part == "[]") {
        where += "[]";
      } else {
        where += (where.empty() ? "" : ".") + part;
      }
    }
    return Fail(where, "a string");
  }

  const Shape shape_;
  const std::string_view pod_uid_;
  Path path_;
  size_t depth_ = 0;
  std::string error_;
  SliceListPage page_;
  SliceWatchEvent event_;
  std::string type_;
  std::string object_kind_;
  bool has_object_ = false;
  SliceOfPod slice_;
  bool in_slice_ = false;
  Endpoint endpoint_;
  bool in_endpoint_ = false;
  size_t endpoint_index_ = 0;
};

bool Parse(std::string_view text, SliceReader& reader) {
  return Json::sax_parse(text.begin(), text.end(), &reader, nlohmann::detail::input_format_t::json,
                         /*strict=*/true);
}

std::string Seconds(SliceTime at, SliceTime since) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at - since).count();
  return fmt::format("+{:.3f}s", static_cast<double>(std::max<long long>(ms, 0)) / 1000.0);
}

bool IsDecimal(std::string_view text) {
  return !text.empty() && text.size() <= 19 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string_view ToString(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "ERROR";
}

Expected<SliceListPage> ParseSliceList(std::string_view json, std::string_view pod_uid) {
  SliceReader reader(SliceReader::Shape::kList, pod_uid);
  if (!Parse(json, reader)) {
    return Status::Invalid("EndpointSliceList: " + (reader.error().empty()
                                                        ? std::string("not valid JSON")
                                                        : reader.error()));
  }
  return std::move(reader.page());
}

Expected<SliceWatchEvent> ParseSliceWatchEvent(std::string_view line, std::string_view pod_uid) {
  SliceReader reader(SliceReader::Shape::kWatchEvent, pod_uid);
  if (!Parse(line, reader)) {
    return Status::Invalid(
        "watch line: " + (reader.error().empty() ? std::string("not valid JSON") : reader.error()));
  }
  SliceWatchEvent event = std::move(reader.event());
  const std::string& type = reader.type();
  if (type == "ADDED") {
    event.type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    event.type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    event.type = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
  } else if (type == "ERROR") {
    event.type = WatchEventType::kError;
  } else if (type.empty()) {
    return Status::Invalid("watch line: no \"type\"");
  } else {
    return Status::Invalid(fmt::format("watch line: unknown type \"{}\"", type));
  }
  if (!reader.has_object()) return Status::Invalid("watch line: no \"object\"");
  if (event.type != WatchEventType::kError && event.type != WatchEventType::kBookmark &&
      event.slice.name.empty()) {
    return Status::Invalid(fmt::format("watch line: {} of an object without metadata.name", type));
  }
  return event;
}

bool OlderResourceVersion(std::string_view next, std::string_view known) {
  if (!IsDecimal(next) || !IsDecimal(known)) return false;
  if (next.size() != known.size()) return next.size() < known.size();
  return next < known;
}

void EndpointSliceTracker::Update(SliceOfPod slice, bool deleted, SliceTime seen) {
  auto it = std::find_if(slices_.begin(), slices_.end(),
                         [&](const Tracked& t) { return t.slice.name == slice.name; });
  if (it == slices_.end()) {
    // A slice that never held the pod is none of the view's business.
    if (deleted || !slice.holds_pod) return;
    Tracked fresh;
    fresh.slice = std::move(slice);
    if (fresh.slice.Removed()) fresh.removed_since = seen;
    slices_.push_back(std::move(fresh));
    return;
  }
  if (deleted) {
    slice = it->slice;
    slice.holds_pod = false;
  }
  it->deleted = deleted;
  it->slice = std::move(slice);
  if (!it->slice.Removed() && !deleted) {
    it->removed_since.reset();
  } else if (!it->removed_since) {
    it->removed_since = seen;
  }
}

void EndpointSliceTracker::ApplyList(const std::vector<SliceOfPod>& slices,
                                     std::string resource_version, SliceTime seen) {
  for (const Tracked& tracked : std::vector<Tracked>(slices_)) {
    const bool listed = std::any_of(slices.begin(), slices.end(), [&](const SliceOfPod& s) {
      return s.name == tracked.slice.name;
    });
    if (!listed && !tracked.deleted) Update(tracked.slice, /*deleted=*/true, seen);
  }
  for (const SliceOfPod& slice : slices) {
    if (slices_.size() >= kMaxTrackedSlices) break;
    Update(slice, /*deleted=*/false, seen);
  }
  resource_version_ = std::move(resource_version);
  listed_ = true;
}

EndpointSliceTracker::Applied EndpointSliceTracker::Apply(const SliceWatchEvent& event,
                                                          SliceTime seen) {
  switch (event.type) {
    case WatchEventType::kError:
      return event.code == 410 ? Applied::kGone : Applied::kError;
    case WatchEventType::kBookmark:
      if (!event.slice.resource_version.empty()) {
        resource_version_ = event.slice.resource_version;
      }
      return Applied::kApplied;
    case WatchEventType::kAdded:
    case WatchEventType::kModified:
    case WatchEventType::kDeleted:
      break;
  }
  const auto it = std::find_if(slices_.begin(), slices_.end(),
                               [&](const Tracked& t) { return t.slice.name == event.slice.name; });
  if (it != slices_.end() &&
      OlderResourceVersion(event.slice.resource_version, it->slice.resource_version)) {
    return Applied::kStale;
  }
  if (it == slices_.end() && slices_.size() >= kMaxTrackedSlices && event.slice.holds_pod) {
    return Applied::kFull;
  }
  if (!event.slice.resource_version.empty() &&
      !OlderResourceVersion(event.slice.resource_version, resource_version_)) {
    resource_version_ = event.slice.resource_version;
  }
  Update(event.slice, event.type == WatchEventType::kDeleted, seen);
  return Applied::kApplied;
}

EndpointRemoval EndpointSliceTracker::Removal(SliceTime trigger) const {
  EndpointRemoval out;
  SliceTime last = trigger;
  std::vector<std::string> parts;
  for (const Tracked& t : slices_) {
    // A slice that stopped holding the pod before the trigger was not routing to it then.
    const bool dropped = t.deleted || !t.slice.holds_pod;
    if (dropped && t.removed_since && *t.removed_since < trigger) continue;
    out.slices += 1;
    const std::string label = t.slice.address_type.empty()
                                  ? t.slice.name
                                  : fmt::format("{} ({})", t.slice.name, t.slice.address_type);
    if (!t.removed_since) {
      parts.push_back(label + " still ready");
      continue;
    }
    out.removed += 1;
    const SliceTime at = std::max(*t.removed_since, trigger);
    last = std::max(last, at);
    const char* how = t.deleted             ? "deleted"
                      : !t.slice.holds_pod  ? "dropped the pod"
                      : t.slice.terminating ? "terminating"
                                            : "not ready";
    parts.push_back(fmt::format("{} {} at {}", label, how, Seconds(at, trigger)));
  }
  if (out.slices > 0 && out.removed == out.slices) out.everywhere = last;
  out.detail = parts.empty() ? std::string("no EndpointSlice holds the pod")
                             : fmt::format("{}", fmt::join(parts, ", "));
  return out;
}

}  // namespace lastcall::kubeapi
