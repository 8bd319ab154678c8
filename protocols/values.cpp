#include "protocols/values.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace crm::protocols {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Active ISO 4217 alphabetic codes (funds and precious metals excluded), sorted.
constexpr std::array<std::string_view, 154> currencies = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
    "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG",
    "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF",
    "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO",
    "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD",
    "UYU", "UZS", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWL",
};

int number(std::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

} // namespace

std::string pg_array_literal(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const auto& s : items) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::vector<std::string> parse_pg_text_array(std::string_view a) {
  std::vector<std::string> out;
  if (a.size() < 2 || a.front() != '{' || a.back() != '}') return {};
  a = a.substr(1, a.size() - 2);
  size_t i = 0;
  while (i < a.size()) {
    std::string item;
    bool quoted = a[i] == '"';
    if (quoted) {
      for (++i; i < a.size() && a[i] != '"'; ++i) {
        if (a[i] == '\\' && i + 1 < a.size()) ++i;
        item += a[i];
      }
      if (i >= a.size()) return {};
      ++i;
    } else {
      while (i < a.size() && a[i] != ',') item += a[i++];
    }
    if (quoted || item != "NULL") out.push_back(std::move(item));
    if (i < a.size() && a[i] != ',') return {};
    ++i;
  }
  return out;
}

bool is_money(std::string_view text, int scale, int integer_digits) {
  auto dot = text.find('.');
  auto whole = text.substr(0, dot);
  if (!all_digits(whole) || whole.size() > static_cast<size_t>(integer_digits)) return false;
  if (dot == std::string_view::npos) return true;
  auto fraction = text.substr(dot + 1);
  return all_digits(fraction) && fraction.size() <= static_cast<size_t>(scale);
}

std::string normalize_money(std::string_view text) {
  auto dot = text.find('.');
  auto whole = text.substr(0, dot);
  while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
  std::string fraction{dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1)};
  fraction.resize(2, '0');
  return std::string{whole} + "." + fraction;
}

bool is_iso4217(std::string_view code) {
  return code.size() == 3 && std::binary_search(currencies.begin(), currencies.end(), code);
}

bool is_iso_date(std::string_view t) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return false;
  if (!all_digits(t.substr(0, 4)) || !all_digits(t.substr(5, 2)) || !all_digits(t.substr(8, 2))) return false;
  int year = (t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[2] - '0') * 10 + (t[3] - '0');
  int month = (t[5] - '0') * 10 + (t[6] - '0');
  int day = (t[8] - '0') * 10 + (t[9] - '0');
  if (year < 1900 || month < 1 || month > 12 || day < 1) return false;
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= days[month - 1] + (month == 2 && leap ? 1 : 0);
}

// RFC 3339 date-time: 2026-11-24T10:00:00(.123456)?(Z|+01:00), offsets within +-15:59.
bool is_rfc3339(std::string_view t) {
  if (t.size() < 20 || t.size() > 35 || !is_iso_date(t.substr(0, 10))) return false;
  if (t[10] != 'T' && t[10] != 't' && t[10] != ' ') return false;
  auto hh = t.substr(11, 2), mm = t.substr(14, 2), ss = t.substr(17, 2);
  if (t[13] != ':' || t[16] != ':' || !all_digits(hh) || !all_digits(mm) || !all_digits(ss)) return false;
  if (number(hh) > 23 || number(mm) > 59 || number(ss) > 59) return false;
  auto rest = t.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t n = 1;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    if (n == 1 || n > 10) return false;
    rest.remove_prefix(n);
  }
  if (rest == "Z" || rest == "z") return true;
  if (rest.size() != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':') return false;
  // RFC 3339 allows offsets to 23:59; PostgreSQL takes 15:59 at most (real
  // zones stay within +14:00/-12:00).
  return all_digits(rest.substr(1, 2)) && all_digits(rest.substr(4, 2)) && number(rest.substr(1, 2)) <= 15 &&
         number(rest.substr(4, 2)) <= 59;
}

} // namespace crm::protocols
