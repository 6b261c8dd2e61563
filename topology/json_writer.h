// A minimal streaming JSON writer for output records: members in the order written, strings
// escaped per RFC 8259. Decimals are written as strings (exact text), never as JSON numbers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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
  json_writer& value(int64_t v) { comma(); out_ += std::to_string(v); return *this; }
  json_writer& null() { comma(); out_ += "null"; return *this; }
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
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        } else {
          out += ch;
        }
    }
  }
}

}  // namespace meterflow
