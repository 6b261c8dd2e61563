#include "topology/event.h"

#include <array>
#include <cstring>
#include <optional>
#include <vector>

#include <simdjson.h>

#include "topology/json_number.h"

namespace meterflow {

namespace od = simdjson::ondemand;

std::string_view to_string(dead_letter_reason r) {
  switch (r) {
    case dead_letter_reason::too_large: return "too_large";
    case dead_letter_reason::invalid_json: return "invalid_json";
    case dead_letter_reason::missing_field: return "missing_field";
    case dead_letter_reason::invalid_field: return "invalid_field";
    case dead_letter_reason::unknown_type: return "unknown_type";
    case dead_letter_reason::invalid_value: return "invalid_value";
    case dead_letter_reason::no_subscription: return "no_subscription";
    case dead_letter_reason::too_late: return "too_late";
    case dead_letter_reason::idempotency_conflict: return "idempotency_conflict";
  }
  return "unknown";
}

namespace {

constexpr size_t max_field_bytes = 256;

// The required top-level fields, in the order their absence or invalidity is reported.
enum field : int { f_specversion, f_id, f_source, f_type, f_subject, f_time, f_count };
constexpr std::array<std::string_view, f_count> field_names = {"specversion", "id", "source",
                                                               "type", "subject", "time"};


// The required field a top-level member name is, or -1. Told apart by length and a letter
// first, so each member costs one comparison with one name instead of one with each (this runs
// for every member of every event).
int required_field(std::string_view key) {
  int candidate = -1;
  switch (key.size()) {
    case 2: candidate = f_id; break;
    case 4: candidate = key[1] == 'y' ? f_type : f_time; break;
    case 6: candidate = f_source; break;
    case 7: candidate = f_subject; break;
    case 11: candidate = f_specversion; break;
    default: return -1;
  }
  return key == field_names[candidate] ? candidate : -1;
}

decode_failure failure(dead_letter_reason reason, std::string error) {
  return decode_failure{reason, std::move(error)};
}

std::string quoted_text(std::string_view s) {
  std::string out = "\"";
  if (s.size() > 64) {
    out.append(s.substr(0, 61));
    out.append("...");
  } else {
    out.append(s);
  }
  out += '"';
  return out;
}

// A scalar read by JSON Pointer: its kind and text (string content, or the JSON text).
struct scalar {
  enum class kind { missing, string, number, boolean, null, composite } k = kind::missing;
  std::string text;
};

// The members of the event's "data" object, captured while it is fingerprinted, so that
// "/data/<name>" pointers need no second walk of the document (at_pointer rewinds and rescans).
// Valid only when `usable`: data was present once, as an object (or null: every name missing),
// under a key without escapes, and none of its member keys had escapes (at_pointer compares
// keys raw; with no escapes raw and unescaped keys are the same text). The first member of a
// name wins, as at_pointer's forward search does.
struct data_capture {
  struct member {
    std::string key;
    scalar value;
  };
  std::vector<member> members;  // members[0, size) hold this event's; capacity is reused
  size_t size = 0;
  bool usable = true;

  void reset() { size = 0; usable = true; }
  member& next() {
    if (size == members.size()) members.emplace_back();
    return members[size++];
  }
  const scalar* find(std::string_view key) const {
    for (size_t i = 0; i < size; ++i)
      if (members[i].key == key) return &members[i].value;
    return nullptr;
  }
};

// True when a field's raw key (as in the input, escapes and all) is exactly `unescaped`: the
// same bytes, none of them a backslash, then the closing quote. One inline pass (it runs for
// every data member, and keys are short), reading no further than the first difference.
bool raw_key_is(const char* raw, std::string_view unescaped) {
  for (size_t i = 0; i < unescaped.size(); ++i)
    if (raw[i] != unescaped[i] || raw[i] == '\\') return false;
  return raw[unescaped.size()] == '"';
}

// The digests fingerprint_value takes several times per data member, as hasher would compute
// them (hasher().field(a).field(b).digest(): each field length-prefixed, one XXH3-128 of the
// whole), with the bytes laid out in one stack buffer instead of through hasher's general
// bookkeeping. The values must not change (fingerprints are persisted): inputs too long for the
// buffer go through hasher itself, and EventFingerprintTest.ValuesArePinned holds the values.
constexpr size_t short_field = 112;  // a field's bytes that fit the stack buffer

[[gnu::always_inline]] inline char* put_field(char* p, const void* data, uint64_t n) {
  std::memcpy(p, &n, sizeof n);
  std::memcpy(p + sizeof n, data, n);
  return p + sizeof n + n;
}

hash128 digest_of(const char* data, size_t n) {
  const XXH128_hash_t h = XXH3_128bits(data, n);
  return {h.low64, h.high64};
}

// hasher().field(std::string_view(&tag, 1)).field(text).digest(): a scalar's hash.
hash128 digest_scalar(char tag, std::string_view text) {
  if (text.size() > short_field)
    return hasher().field(std::string_view(&tag, 1)).field(text).digest();
  char buf[2 * sizeof(uint64_t) + 1 + short_field];
  char* end = put_field(buf, &tag, 1);
  end = put_field(end, text.data(), text.size());
  return digest_of(buf, static_cast<size_t>(end - buf));
}

// hasher().field(key).field(value).digest(): an object member's share of its object's hash.
hash128 digest_member(std::string_view key, hash128 value) {
  if (key.size() > short_field) return hasher().field(key).field(value).digest();
  char buf[sizeof(uint64_t) + short_field + sizeof(hash128)];
  char* end = put_field(buf, key.data(), key.size());
  std::memcpy(end, &value, sizeof value);
  return digest_of(buf, static_cast<size_t>(end + sizeof value - buf));
}

// Hashes a JSON value so that object member order does not matter: each member contributes
// hash(key, value) to a commutative sum. Strings hash by content, numbers and literals by text.
// `leaf`, if given, receives the value as read_scalar would read it; `members`, if given (the
// data object), receives each member of an object value.
simdjson::error_code fingerprint_value(od::value v, hash128& out, scalar* leaf = nullptr,
                                       data_capture* members = nullptr) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (leaf) leaf->k = scalar::kind::composite;
  switch (type) {
    case od::json_type::object: {
      od::object obj;
      if (auto e = v.get_object().get(obj)) return e;
      hash128 sum{};
      int64_t members_seen = 0;
      for (auto result : obj) {
        od::field member;
        if (auto e = std::move(result).get(member)) return e;
        const char* raw_key = member.key().raw();
        std::string_view key;  // in the parser's string buffer: valid until the next document
        if (auto e = member.unescaped_key().get(key)) return e;
        od::value child = member.value();
        hash128 child_hash;
        scalar* child_leaf = nullptr;
        if (members) {
          if (!raw_key_is(raw_key, key)) members->usable = false;
          data_capture::member& m = members->next();
          if (m.key != key) m.key.assign(key);  // reused slots mostly hold the same name
          m.value.k = scalar::kind::missing;
          child_leaf = &m.value;
        }
        if (auto e = fingerprint_value(child, child_hash, child_leaf)) return e;
        sum = sum + digest_member(key, child_hash);
        ++members_seen;
      }
      out = hasher().field("o").field(sum).field(members_seen).digest();
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array arr;
      if (auto e = v.get_array().get(arr)) return e;
      hasher h;
      h.field("a");
      for (auto element : arr) {
        od::value child;
        if (auto e = element.get(child)) return e;
        hash128 child_hash;
        if (auto e = fingerprint_value(child, child_hash)) return e;
        h.field(child_hash);
      }
      out = h.digest();
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return e;
      out = digest_scalar('s', s);
      if (leaf) {
        leaf->k = scalar::kind::string;
        leaf->text.assign(s);
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::number: {
      std::string_view text = trim_json_token(v.raw_json_token());
      if (!is_json_number(text)) return simdjson::NUMBER_ERROR;
      out = digest_scalar('n', text);
      if (leaf) {
        leaf->k = scalar::kind::number;
        leaf->text.assign(text);
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::boolean: {
      bool b;
      if (auto e = v.get_bool().get(b)) return e;
      static const hash128 true_hash = hasher().field("true").digest();
      static const hash128 false_hash = hasher().field("false").digest();
      out = b ? true_hash : false_hash;
      if (leaf) {
        leaf->k = scalar::kind::boolean;
        leaf->text.assign(b ? "true" : "false");
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::null: {
      bool is_null = false;
      if (v.is_null().get(is_null) || !is_null) return simdjson::N_ATOM_ERROR;
      static const hash128 null_hash = hasher().field("null").digest();
      out = null_hash;
      if (leaf) leaf->k = scalar::kind::null;
      return simdjson::SUCCESS;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

// "/data/<name>" with a name needing no JSON Pointer unescaping: the name, else nullopt.
std::optional<std::string_view> data_member_name(std::string_view pointer) {
  constexpr std::string_view prefix = "/data/";
  if (!pointer.starts_with(prefix)) return std::nullopt;
  std::string_view name = pointer.substr(prefix.size());
  if (name.find_first_of("/~") != std::string_view::npos) return std::nullopt;
  return name;
}

scalar read_scalar(od::document& doc, const std::string& pointer) {
  scalar s;
  od::value v;
  if (doc.at_pointer(pointer).get(v)) return s;
  od::json_type type;
  if (v.type().get(type)) return s;
  switch (type) {
    case od::json_type::string: {
      std::string_view sv;
      if (v.get_string().get(sv)) return s;
      s.k = scalar::kind::string;
      s.text.assign(sv);
      break;
    }
    case od::json_type::number:
      s.k = scalar::kind::number;
      s.text.assign(trim_json_token(v.raw_json_token()));
      break;
    case od::json_type::boolean: {
      bool b;
      if (v.get_bool().get(b)) return s;
      s.k = scalar::kind::boolean;
      s.text = b ? "true" : "false";
      break;
    }
    case od::json_type::null:
      s.k = scalar::kind::null;
      break;
    default:
      s.k = scalar::kind::composite;
  }
  return s;
}

// True when tokens follow the root value (simdjson 3.0 has no document::at_end()).
bool has_trailing_content(od::document& doc) {
  const char* location = nullptr;
  return doc.current_location().get(location) == simdjson::SUCCESS;
}

// What a meter needs from the event's value.
bool needs_number(const meter& m) {
  if (m.window_agg) return *m.window_agg != aggregation::count;
  return m.agg != aggregation::count && m.agg != aggregation::unique_count;
}
bool needs_text(const meter& m) { return !m.window_agg && m.agg == aggregation::unique_count; }

void append_group_part(std::string& out, const scalar& s) {
  if (s.k == scalar::kind::missing || s.k == scalar::kind::null) {
    out += '\0';
    return;
  }
  out += '\1';
  uint32_t n = static_cast<uint32_t>(s.text.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out += s.text;
}

}  // namespace

std::vector<group_value> decode_group(const meter& m, std::string_view encoded) {
  std::vector<group_value> out;
  out.reserve(m.group_by.size());
  for (const auto& g : m.group_by) {
    group_value gv{g.name, true, {}};
    if (!encoded.empty()) {
      char flag = encoded.front();
      encoded.remove_prefix(1);
      if (flag == '\1' && encoded.size() >= 4) {
        uint32_t n;
        std::memcpy(&n, encoded.data(), sizeof n);
        encoded.remove_prefix(4);
        gv.is_null = false;
        gv.value = encoded.substr(0, n);
        encoded.remove_prefix(std::min<size_t>(n, encoded.size()));
      }
    }
    out.push_back(gv);
  }
  return out;
}

struct event_decoder::impl {
  od::parser parser;
  std::string padded;  // the event copied with SIMDJSON_PADDING bytes after it
  data_capture data;
  scalar pointed;  // read_pointer's result when it is read by at_pointer

  // The scalar at `pointer`: from the captured data members when possible (no rescan; the
  // same answer at_pointer gives, see data_capture), else by at_pointer.
  const scalar& read_pointer(od::document& doc, const std::string& pointer) {
    if (data.usable) {
      if (auto name = data_member_name(pointer)) {
        static const scalar missing;
        const scalar* s = data.find(*name);
        return s ? *s : missing;
      }
    }
    pointed = read_scalar(doc, pointer);
    return pointed;
  }
};

event_decoder::event_decoder(decoder_options options)
    : impl_(std::make_unique<impl>()), options_(options) {}
event_decoder::~event_decoder() = default;

std::optional<decode_failure> event_decoder::decode(std::string_view raw, const catalog& cat,
                                                    timestamp wall_clock, decoded_event& out) {
  using R = dead_letter_reason;
  out.readings.clear();  // after a failure `out` holds no readings of an earlier event
  if (raw.size() > options_.max_event_bytes) {
    return failure(R::too_large, "event is " + std::to_string(raw.size()) +
                                     " bytes, over max.event.bytes " +
                                     std::to_string(options_.max_event_bytes));
  }

  // Copy into a padded buffer: simdjson reads up to SIMDJSON_PADDING bytes past the end.
  auto& buf = impl_->padded;
  if (buf.size() < raw.size() + simdjson::SIMDJSON_PADDING)
    buf.resize(raw.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(buf.data(), raw.data(), raw.size());
  std::memset(buf.data() + raw.size(), 0, simdjson::SIMDJSON_PADDING);

  od::document doc;
  auto bad_json = [](simdjson::error_code e) {
    return failure(R::invalid_json, std::string("event is not valid JSON: ") +
                                        simdjson::error_message(e));
  };
  if (auto e = impl_->parser.iterate(buf.data(), raw.size(), buf.size()).get(doc))
    return bad_json(e);
  od::object root;
  if (auto e = doc.get_object().get(root)) {
    if (e == simdjson::INCORRECT_TYPE)
      return failure(R::invalid_json, "event is not a JSON object");
    return bad_json(e);
  }

  // One pass over the members: copy the required strings, note type errors, fingerprint data.
  std::array<bool, f_count> present{};
  std::array<bool, f_count> is_string{};
  // Each required string as read: a view into the parser's string buffer, valid until the next
  // document or an at_pointer rewind (read_pointer below), so only the fields the engine keeps
  // are copied out; specversion and time are checked before any at_pointer.
  std::array<std::string_view, f_count> text{};
  std::array<std::string*, f_count> dest = {nullptr, &out.id, &out.source, &out.type,
                                            &out.subject, nullptr};
  static const hash128 absent_hash = hasher().field("absent").digest();
  hash128 data_hash = absent_hash;
  bool data_invalid = false;
  data_capture& data = impl_->data;
  data.reset();
  int data_members = 0;

  for (auto result : root) {
    od::field member;
    if (auto e = std::move(result).get(member)) return bad_json(e);
    const char* raw_key = member.key().raw();
    std::string_view key;
    if (auto e = member.unescaped_key().get(key)) return bad_json(e);
    od::value v = member.value();
    const int f = required_field(key);
    if (f >= 0) {
      present[f] = true;
      std::string_view s;
      auto e = v.get_string().get(s);
      if (e == simdjson::SUCCESS) {
        is_string[f] = true;
        text[f] = s;
        if (dest[f]) dest[f]->assign(s);
      } else if (e != simdjson::INCORRECT_TYPE) {
        return bad_json(e);
      } else {
        is_string[f] = false;
        hash128 ignored;  // consume (and so validate) the non-string value
        if (auto e2 = fingerprint_value(v, ignored)) return bad_json(e2);
      }
    } else if (key == "data") {
      // Captured members answer /data/* pointers only for the one "data" at_pointer would find.
      if (++data_members > 1 || !raw_key_is(raw_key, key)) data.usable = false;
      data.size = 0;
      od::json_type type;
      if (auto e = v.type().get(type)) return bad_json(e);
      if (type == od::json_type::null) {
        bool is_null = false;
        if (v.is_null().get(is_null) || !is_null) return bad_json(simdjson::N_ATOM_ERROR);
      } else {
        if (type != od::json_type::object) data_invalid = true;
        if (auto e = fingerprint_value(v, data_hash, nullptr, &data)) return bad_json(e);
      }
    } else {
      hash128 ignored;  // other members: validated, not used
      if (auto e = fingerprint_value(v, ignored)) return bad_json(e);
    }
  }
  if (has_trailing_content(doc))
    return failure(R::invalid_json, "event has content after its JSON object");

  for (int i = 0; i < f_count; ++i)
    if (!present[i])
      return failure(R::missing_field, "event has no \"" + std::string(field_names[i]) + "\"");

  for (int i = 0; i < f_count; ++i) {
    std::string_view name = field_names[i];
    if (!is_string[i])
      return failure(R::invalid_field, "\"" + std::string(name) + "\" is not a string");
    const std::string_view s = text[i];
    if (s.empty()) return failure(R::invalid_field, "\"" + std::string(name) + "\" is empty");
    if (s.size() > max_field_bytes && (i == f_id || i == f_source || i == f_subject))
      return failure(R::invalid_field, "\"" + std::string(name) + "\" is " + std::to_string(s.size()) +
                                           " bytes, over the limit of 256");
  }
  const std::string_view specversion = text[f_specversion], time_text = text[f_time];
  if (specversion != "1.0")
    return failure(R::invalid_field, "specversion is " + quoted_text(specversion) + ", not \"1.0\"");
  auto t = parse_rfc3339(time_text);
  if (!t) return failure(R::invalid_field, t.error().message);
  if (*t > wall_clock + options_.max_future)
    return failure(R::invalid_field, "time " + std::string(time_text) + " is more than " +
                                         std::to_string(options_.max_future.count() / 1000) +
                                         " s ahead of the wall clock");
  if (data_invalid) return failure(R::invalid_field, "\"data\" is not a JSON object");
  out.time = *t;

  auto meter_ids = cat.meters_for_type(out.type);
  if (meter_ids.empty())
    return failure(R::unknown_type, "no meter reads events of type " + quoted_text(out.type));

  out.key = hasher().field(out.subject).field(out.source).field(out.id).digest();
  out.fingerprint = hasher().field(out.type).field(out.time.ms).field(data_hash).digest();

  // Meter readings: filters select the meter; its value must then be a valid decimal.
  for (uint32_t mi : meter_ids) {
    const meter& m = cat.meters[mi];
    bool selected = true;
    for (const auto& f : m.filters) {
      const scalar& s = impl_->read_pointer(doc, f.pointer);
      if (s.k != scalar::kind::string || s.text != f.value) {
        selected = false;
        break;
      }
    }
    if (!selected) continue;
    meter_reading r;
    r.meter = mi;
    if (needs_number(m) || needs_text(m)) {
      const scalar& s = impl_->read_pointer(doc, m.value_pointer);
      auto where = [&] { return "meter " + m.key + ": " + m.value_pointer; };
      if (s.k == scalar::kind::missing)
        return failure(R::invalid_value, where() + " is missing");
      if (needs_text(m)) {
        if (s.k == scalar::kind::null || s.k == scalar::kind::composite)
          return failure(R::invalid_value, where() + " is not a string, number or boolean");
        r.text = s.text;
      } else {
        if (s.k != scalar::kind::string && s.k != scalar::kind::number)
          return failure(R::invalid_value, where() + " is not a decimal");
        auto d = decimal::parse(s.text, event_value_limits);
        if (!d) return failure(R::invalid_value, where() + ": " + d.error().message);
        r.value = *d;
      }
    }
    for (const auto& g : m.group_by) {
      const scalar& s = impl_->read_pointer(doc, g.pointer);
      if (s.k == scalar::kind::composite)
        return failure(R::invalid_value,
                       "meter " + m.key + ": group " + g.name + " at " + g.pointer +
                           " is an object or array");
      append_group_part(r.group, s);
    }
    out.readings.push_back(std::move(r));
  }
  return std::nullopt;
}

}  // namespace meterflow
