// A minimal streaming JSON writer for output records: members in the order written, strings
// escaped per RFC 8259. Decimals are written as strings (exact text), never as JSON numbers.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "topology/decimal.h"
#include "topology/hash.h"
#include "topology/time.h"

namespace meterflow {

class json_writer {
 public:
  explicit json_writer(std::string& out) : out_(out) {}

  json_writer& begin_object() { comma(); out_ += '{'; first_ = true; return *this; }
  json_writer& end_object() { out_ += '}'; first_ = false; return *this; }
  json_writer& begin_array() { comma(); out_ += '['; first_ = true; return *this; }
  json_writer& end_array() { out_ += ']'; first_ = false; return *this; }
  json_writer& key(std::string_view k) { comma(); string_body(k); out_ += ':'; first_ = true; return *this; }

  json_writer& value(std::string_view s) { comma(); string_body(s); return *this; }
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(int64_t v) {
    comma();
    char buf[24];
    out_.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
    return *this;
  }
  // An instant as a UTC RFC 3339 string ("2026-11-03T09:00:00Z").
  json_writer& value(timestamp t) {
    comma();
    out_ += '"';
    append_utc(out_, t);
    out_ += '"';
    return *this;
  }
  // A decimal as a JSON string of its shortest exact text (decimal::to_string), or with exactly
  // `digits` fractional digits (decimal::to_fixed); written in place, no temporary string.
  json_writer& value(decimal d) {
    comma();
    out_ += '"';
    d.append_to(out_);
    out_ += '"';
    return *this;
  }
  json_writer& fixed_value(decimal d, int digits, rounding_mode mode) {
    comma();
    out_ += '"';
    d.append_fixed(out_, digits, mode);
    out_ += '"';
    return *this;
  }
  // An identity hash as `prefix` followed by its 32 hex digits ("c-0123...").
  json_writer& value(std::string_view prefix, hash128 id) {
    comma();
    out_ += '"';
    escape_into(out_, prefix);
    append_hex(out_, id);
    out_ += '"';
    return *this;
  }
  json_writer& null() { comma(); out_ += "null"; return *this; }
  // Inserts members serialised by another writer (`"a":1,"b":2`) into the current object.
  json_writer& raw_members(std::string_view members) {
    comma();
    out_ += members;
    return *this;
  }
  // Inserts already-serialised JSON as a value.
  json_writer& raw(std::string_view json) { comma(); out_ += json; return *this; }

  template <class V>
  json_writer& member(std::string_view k, const V& v) { key(k); return value(v); }

  static void escape_into(std::string& out, std::string_view s);

 private:
  void comma() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  void string_body(std::string_view s) {
    out_ += '"';
    escape_into(out_, s);
    out_ += '"';
  }

  std::string& out_;
  bool first_ = true;
};

inline void json_writer::escape_into(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  // Copy runs that need no escaping in one append (the common case: all of it).
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
  }
  out.append(s.data() + run, s.size() - run);
}

}  // namespace meterflow
