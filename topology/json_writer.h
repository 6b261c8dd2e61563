// A minimal streaming JSON writer for output records: members in the order written, strings
// escaped per RFC 8259. Decimals are written as strings (exact text), never as JSON numbers.
#pragma once

#include <algorithm>
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

  json_writer& begin_object() { punct('{'); first_ = true; return *this; }
  json_writer& end_object() { out_ += '}'; first_ = false; return *this; }
  json_writer& begin_array() { punct('['); first_ = true; return *this; }
  json_writer& end_array() { out_ += ']'; first_ = false; return *this; }
  json_writer& key(std::string_view k) { comma(); string_body(k); out_ += ':'; first_ = true; return *this; }
  // A member name given as a literal ("tenant"): the names this code writes are plain ASCII
  // with nothing to escape, so the comma, quotes and colon go out with it in one append (most
  // of a charge line is such names). Names from data (group names) take the overload above.
  template <size_t N>
  json_writer& key(const char (&k)[N]) {
    put(N + 3, [&](char* p) {
      p = std::copy_n(k, N - 1, open_quote(p));
      *p++ = '"';
      *p++ = ':';
      return p;
    });
    first_ = true;
    return *this;
  }

  json_writer& value(std::string_view s) { comma(); string_body(s); return *this; }
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(int64_t v) {
    put(1 + 20, [&](char* p) { return std::to_chars(comma(p), p + 1 + 20, v).ptr; });
    return *this;
  }
  // An instant as a UTC RFC 3339 string ("2026-11-03T09:00:00Z").
  json_writer& value(timestamp t) {
    put(3 + max_utc_text, [&](char* p) { return close_quote(write_utc(open_quote(p), t)); });
    return *this;
  }
  // A decimal as a JSON string of its shortest exact text (decimal::to_string), or with exactly
  // `digits` fractional digits (decimal::to_fixed); written in place, no temporary string.
  json_writer& value(decimal d) {
    put(3 + decimal::max_text, [&](char* p) { return close_quote(d.write_to(open_quote(p))); });
    return *this;
  }
  json_writer& fixed_value(decimal d, int digits, rounding_mode mode) {
    put(3 + decimal::max_text, [&](char* p) {
      return close_quote(d.write_fixed(open_quote(p), digits, mode));
    });
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
  template <size_t N, class V>
  json_writer& member(const char (&k)[N], const V& v) { key(k); return value(v); }

  static void escape_into(std::string& out, std::string_view s);

 private:
  void comma() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  // comma() for put()'s writers: writes the separator at `p`, returns where the value goes.
  char* comma(char* p) {
    if (!first_) *p++ = ',';
    first_ = false;
    return p;
  }
  char* open_quote(char* p) {
    p = comma(p);
    *p++ = '"';
    return p;
  }
  static char* close_quote(char* p) {
    *p++ = '"';
    return p;
  }
  void punct(char c) {
    put(2, [&](char* p) {
      p = comma(p);
      *p++ = c;
      return p;
    });
  }
  // Appends at most `max` bytes, written by `write(char* p)` (which returns their end), with
  // one capacity check for the whole piece instead of one per character.
  template <class Write>
  void put(size_t max, Write write) {
    const size_t old = out_.size();
    out_.resize_and_overwrite(old + max, [&](char* data, size_t) {
      return static_cast<size_t>(write(data + old) - data);
    });
  }
  void string_body(std::string_view s) {
    if (!needs_escape(s)) {  // the common case: quotes and text in one append
      put(s.size() + 2, [&](char* p) {
        *p++ = '"';
        return close_quote(std::copy_n(s.data(), s.size(), p));
      });
      return;
    }
    out_ += '"';
    escape_into(out_, s);
    out_ += '"';
  }
  static bool needs_escape(std::string_view s) {
    for (char ch : s) {
      auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c == '"' || c == '\\') return true;
    }
    return false;
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
