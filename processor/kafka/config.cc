#include "processor/kafka/config.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace meterflow::kafka {

properties::properties(std::initializer_list<std::pair<std::string_view, std::string_view>> init) {
  for (const auto& [k, v] : init) set(k, v);
}

const property* properties::find(std::string_view key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::optional<std::string_view> properties::get(std::string_view key) const {
  const property* p = find(key);
  if (!p) return std::nullopt;
  return std::string_view(p->value);
}

void properties::set(std::string_view key, std::string_view value, std::string_view origin) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    entries_[it->second].value = value;
    entries_[it->second].origin = origin;
    return;
  }
  index_.emplace(std::string(key), entries_.size());
  entries_.push_back(property{std::string(key), std::string(value), std::string(origin)});
}

bool properties::erase(std::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  entries_.erase(entries_.begin() + static_cast<ptrdiff_t>(it->second));
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].key, i);
  return true;
}

properties properties::with_prefix(std::string_view prefix) const {
  properties out;
  for (const auto& p : entries_)
    if (p.key.starts_with(prefix) && p.key.size() > prefix.size())
      out.set(std::string_view(p.key).substr(prefix.size()), p.value, p.origin);
  return out;
}

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\f'; }

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A logical line: physical lines joined at continuations, escapes still in place.
struct logical_line {
  std::string text;
  int line = 0;  // first physical line, 1-based
};

// Reads four hex digits at s[i..i+4).
std::optional<char32_t> hex4(std::string_view s, size_t i) {
  if (i + 4 > s.size()) return std::nullopt;
  char32_t v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= static_cast<char32_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= static_cast<char32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= static_cast<char32_t>(c - 'A' + 10);
    else
      return std::nullopt;
  }
  return v;
}

// Decodes the escapes of s[begin, end) into out. Returns an error sentence or empty.
std::string unescape(std::string_view s, std::string& out) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == s.size()) break;  // a lone trailing backslash (end of file) means nothing
    switch (char e = s[i]) {
      case 't': out += '\t'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        auto cp = hex4(s, i + 1);
        if (!cp) return "malformed \\uXXXX escape";
        i += 4;
        if (*cp >= 0xD800 && *cp <= 0xDBFF) {  // a UTF-16 pair: \uD83D\uDE00
          std::optional<char32_t> low;
          if (i + 2 < s.size() && s[i + 1] == '\\' && s[i + 2] == 'u') low = hex4(s, i + 3);
          if (!low || *low < 0xDC00 || *low > 0xDFFF)
            return "unpaired UTF-16 surrogate in \\u escape";
          append_utf8(out, 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00));
          i += 6;
        } else if (*cp >= 0xDC00 && *cp <= 0xDFFF) {
          return "unpaired UTF-16 surrogate in \\u escape";
        } else {
          append_utf8(out, *cp);
        }
        break;
      }
      default: out += e; break;
    }
  }
  return {};
}

}  // namespace

result<properties> properties::parse(std::string_view text, std::string_view source) {
  properties out;
  std::string where_prefix(source);
  size_t pos = 0;
  int physical = 0;
  auto next_physical = [&](std::string_view& line) {
    if (pos >= text.size()) return false;
    size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = text.size();
    line = text.substr(pos, end - pos);
    // A line ends at \n, \r or \r\n.
    if (end + 1 < text.size() && text[end] == '\r' && text[end + 1] == '\n')
      pos = end + 2;
    else
      pos = std::min(end + 1, text.size());
    ++physical;
    return true;
  };
  auto ends_with_continuation = [](std::string_view line) {
    size_t n = 0;
    while (n < line.size() && line[line.size() - 1 - n] == '\\') ++n;
    return n % 2 == 1;
  };

  std::string_view raw;
  while (next_physical(raw)) {
    size_t first = 0;
    while (first < raw.size() && is_blank(raw[first])) ++first;
    if (first == raw.size()) continue;                     // blank line
    if (raw[first] == '#' || raw[first] == '!') continue;  // comment (never continued)
    logical_line logical{std::string(raw.substr(first)), physical};
    while (ends_with_continuation(logical.text)) {
      logical.text.pop_back();
      std::string_view more;
      if (!next_physical(more)) break;
      size_t skip = 0;
      while (skip < more.size() && is_blank(more[skip])) ++skip;
      logical.text.append(more.substr(skip));
    }
    std::string where = where_prefix + ":" + std::to_string(logical.line);

    // The key ends at the first unescaped '=', ':' or blank.
    std::string_view line = logical.text;
    size_t key_end = 0;
    while (key_end < line.size()) {
      char c = line[key_end];
      if (c == '\\') {
        key_end += 2;
        continue;
      }
      if (c == '=' || c == ':' || is_blank(c)) break;
      ++key_end;
    }
    key_end = std::min(key_end, line.size());
    size_t value_begin = key_end;
    while (value_begin < line.size() && is_blank(line[value_begin])) ++value_begin;
    if (value_begin < line.size() && (line[value_begin] == '=' || line[value_begin] == ':'))
      ++value_begin;
    while (value_begin < line.size() && is_blank(line[value_begin])) ++value_begin;
    // Trailing blanks of the value are dropped unless escaped ("\ ").
    size_t value_end = line.size();
    while (value_end > value_begin && is_blank(line[value_end - 1])) {
      size_t slashes = 0;
      while (value_end - 1 - slashes > value_begin && line[value_end - 2 - slashes] == '\\')
        ++slashes;
      if (slashes % 2 == 1) break;
      --value_end;
    }

    std::string key, value;
    if (auto e = unescape(line.substr(0, key_end), key); !e.empty()) return fail(where, ": ", e);
    if (auto e = unescape(line.substr(value_begin, value_end - value_begin), value); !e.empty())
      return fail(where, ": ", e);
    if (key.empty()) return fail(where, ": a property with an empty key");
    if (const property* seen = out.find(key))
      return fail(where, ": \"", key, "\" is set twice (first at ", seen->origin, ")");
    out.set(key, value, where);
  }
  return out;
}

result<properties> properties::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot open ", path, ": ", std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail("cannot read ", path, ": ", std::strerror(errno));
  return parse(text.str(), path);
}

result<properties> parse_settings(const std::vector<std::string>& items, std::string_view origin) {
  properties out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail(std::string(origin), " ", item, ": expected key=value");
    std::string key = item.substr(0, eq);
    if (out.contains(key)) return fail(std::string(origin), " ", key, " is given twice");
    out.set(key, std::string_view(item).substr(eq + 1), std::string(origin) + " " + key);
  }
  return out;
}

result<void> apply(rd_kafka_conf_t* conf, const properties& settings) {
  char errstr[512];
  for (const auto& p : settings) {
    errstr[0] = '\0';
    rd_kafka_conf_res_t res =
        rd_kafka_conf_set(conf, p.key.c_str(), p.value.c_str(), errstr, sizeof errstr);
    if (res == RD_KAFKA_CONF_OK) continue;
    std::string where = p.origin.empty() ? std::string() : " (" + p.origin + ")";
    const char* kind = res == RD_KAFKA_CONF_UNKNOWN ? "unknown" : "invalid";
    return fail(kind, " kafka setting \"", p.key, "\"", where, ": ", errstr);
  }
  return {};
}

result<conf_ptr> make_conf(const properties& settings) {
  conf_ptr conf(rd_kafka_conf_new());
  if (auto r = apply(conf.get(), settings); !r) return std::unexpected(r.error());
  return conf;
}

}  // namespace meterflow::kafka
