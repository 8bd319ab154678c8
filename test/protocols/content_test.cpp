// Tests protocols/content.cpp: what a sniffed type is, the allowlist, the
// recorded file name, text and CSV rules (formulas neutralized, phone
// numbers kept), the zip directory's limits, WebP metadata chunks, the
// settings body and the download tokens (forged, expired, foreign).
#include "protocols/content.hpp"
#include "protocols/content_access.hpp"
#include "protocols/errc.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace crm::protocols;

namespace {

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int k = 0; k < 4; ++k) s[k] = static_cast<char>((v >> (8 * k)) & 0xff);
  return s;
}
std::string le16(uint16_t v) { return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}; }

// A zip with one stored-or-deflated entry as its directory describes it
// (the data itself is not inflated by inspect_zip).
std::string zip_of(const std::string& name, uint32_t compressed, uint32_t size, uint16_t flags = 0) {
  std::string local = le32(0x04034b50) + le16(20) + le16(flags) + le16(8) + le16(0) + le16(0) + le32(0) +
                      le32(compressed) + le32(size) + le16(static_cast<uint16_t>(name.size())) + le16(0) + name +
                      std::string(compressed, 'z');
  std::string central = le32(0x02014b50) + le16(20) + le16(20) + le16(flags) + le16(8) + le16(0) + le16(0) +
                        le32(0) + le32(compressed) + le32(size) + le16(static_cast<uint16_t>(name.size())) +
                        le16(0) + le16(0) + le16(0) + le16(0) + le32(0) + le32(0) + name;
  std::string eocd = le32(0x06054b50) + le16(0) + le16(0) + le16(1) + le16(1) +
                     le32(static_cast<uint32_t>(central.size())) + le32(static_cast<uint32_t>(local.size())) + le16(0);
  return local + central + eocd;
}

} // namespace

TEST_CASE("sniffed types decide the kind; the declared type only tells CSV from text", "[protocols][content]") {
  CHECK(classify_content("image/jpeg") == content_kind::image);
  CHECK(classify_content("image/webp") == content_kind::image);
  CHECK(classify_content("application/pdf") == content_kind::pdf);
  CHECK(classify_content("text/plain") == content_kind::text);
  CHECK(classify_content("text/plain", "text/csv") == content_kind::csv);
  CHECK(classify_content("text/plain", "", "leads.CSV") == content_kind::csv);
  CHECK(classify_content("text/html", "image/jpeg", "cat.jpg") == content_kind::dangerous);
  CHECK(classify_content("image/svg+xml") == content_kind::dangerous);
  CHECK(classify_content("application/x-executable") == content_kind::dangerous);
  CHECK(classify_content("text/x-shellscript") == content_kind::dangerous);
  CHECK(classify_content("application/zip") == content_kind::archive);
  CHECK(classify_content("application/gzip") == content_kind::archive);
  CHECK(classify_content("application/vnd.openxmlformats-officedocument.wordprocessingml.document") ==
        content_kind::office);
  CHECK(classify_content("application/octet-stream") == content_kind::unknown);
  CHECK(served_mime(content_kind::csv, "text/plain") == "text/csv");
  CHECK(mime_allowed({"image/png"}, "image/png"));
  CHECK_FALSE(mime_allowed({"image/png"}, "image/jpeg"));
}

TEST_CASE("a file name is recorded without paths, controls or direction overrides", "[protocols][content]") {
  CHECK(clean_filename("../../etc/passwd") == "passwd");
  CHECK(clean_filename("C:\\Users\\x\\report.pdf") == "report.pdf");
  CHECK(clean_filename("a\r\nb\tc.txt") == "a__b_c.txt");
  CHECK(clean_filename("invoice\xE2\x80\xAE" "fdp.exe") == "invoice_fdp.exe");
  CHECK(clean_filename("\xC3\xA9t\xC3\xA9.txt") == "\xC3\xA9t\xC3\xA9.txt");
  CHECK(clean_filename("bad\xFF.txt") == "bad_.txt");
  CHECK(clean_filename("...hidden") == "hidden");
  CHECK(clean_filename("") == "upload");
  CHECK(clean_filename(std::string(300, 'a')).size() == 255);
  CHECK(clean_filename(std::string(254, 'a') + "\xC3\xA9").size() == 254);  // never half a character
  CHECK(clean_mime("Image/JPEG; q=1") == "image/jpeg");
  CHECK(clean_mime("") == "application/octet-stream");
  CHECK(clean_mime("text/html\r\nX: y") == "application/octet-stream");
}

TEST_CASE("a download is named for what the file is now", "[protocols][content]") {
  CHECK(download_name("photo.jpg", "image/jpeg") == "photo.jpg");
  CHECK(download_name("Photo.JPEG", "image/jpeg") == "Photo.JPEG");
  CHECK(download_name("invoice.exe", "image/png") == "invoice.exe.png");
  CHECK(download_name("cat.jpg", "image/webp") == "cat.jpg.webp");
  CHECK(download_name("leads", "text/csv") == "leads.csv");
  CHECK(download_name("x.bin", "application/x-unknown") == "x.bin");
}

TEST_CASE("text is UTF-8 with LF line ends", "[protocols][content]") {
  CHECK(valid_utf8("plain \xC3\xA9"));
  CHECK_FALSE(valid_utf8("\xC0\xAF"));          // overlong
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  CHECK_FALSE(valid_utf8("cut \xE2\x82"));
  CHECK(normalize_text("\xEF\xBB\xBF" "a\r\nb\rc\n") == "a\nb\nc\n");
}

TEST_CASE("CSV formula cells are neutralized, numbers and phone numbers are not", "[protocols][content]") {
  auto out = neutralize_csv("name,phone,note\r\nAlice,+33 1 23 45 67 89,=1+1\r\nBob,-5,@SUM(A1)\r\n"
                            "\"Carol\",\"(555) 010-9999\",\"+cmd|' /C calc'!A0\"\r\nDan,\t=x,\"multi\r\nline, \"\"q\"\"\"\r\n");
  REQUIRE(out);
  CHECK(*out ==
        "name,phone,note\nAlice,+33 1 23 45 67 89,'=1+1\nBob,-5,'@SUM(A1)\n"
        "\"Carol\",\"(555) 010-9999\",\"'+cmd|' /C calc'!A0\"\nDan,'\t'=x,\"multi\nline, \"\"q\"\"\"\n");
  CHECK_FALSE(neutralize_csv("a,\"never closed\n"));
  // a ';' list separator (de, fr, ...) splits a cell: each fragment is neutralized
  CHECK(*neutralize_csv("a;=HYPERLINK(\"x\"),b\n") == "\"a;'=HYPERLINK(\"\"x\"\")\",b\n");
  CHECK(*neutralize_csv("x;-5;+33 1 2\n") == "x;-5;+33 1 2\n");
  CHECK(*neutralize_csv("-,+,=") == "'-,'+,'=");
}

TEST_CASE("a zip's directory is held to the limits", "[protocols][content]") {
  auto ok = inspect_zip(zip_of("docs/a.txt", 100, 1000));
  CHECK(ok.ok);
  CHECK(ok.entries == 1);
  REQUIRE(ok.items.size() == 1);
  CHECK(ok.items[0].size == 1000);
  CHECK(ok.items[0].data_offset == 30 + std::string{"docs/a.txt"}.size());
  CHECK(inspect_zip(zip_of("big.bin", 1000, 200u << 20)).reason == "archive.bomb");
  CHECK(inspect_zip(zip_of("../evil.sh", 10, 10)).reason == "archive.path");
  CHECK(inspect_zip(zip_of("/etc/x", 10, 10)).reason == "archive.path");
  CHECK(inspect_zip(zip_of("inner.zip", 10, 10)).reason == "archive.nested");
  CHECK(inspect_zip(zip_of("secret.txt", 10, 10, 1)).reason == "archive.encrypted");
  CHECK(inspect_zip("PK not a zip").reason == "archive.malformed");
  zip_limits tight;
  tight.max_uncompressed = 500;
  CHECK(inspect_zip(zip_of("a.txt", 100, 1000), tight).reason == "archive.bomb");
}

TEST_CASE("a WebP loses its EXIF, XMP and ICC chunks and their flags", "[protocols][content]") {
  auto chunk = [](std::string tag, std::string data) {
    auto s = tag + le32(static_cast<uint32_t>(data.size())) + data;
    if (data.size() & 1) s.push_back('\0');
    return s;
  };
  std::string vp8x = chunk("VP8X", std::string{"\x2C\0\0\0", 4} + std::string(6, '\x01'));
  std::string body = "WEBP" + vp8x + chunk("ICCP", "icc") + chunk("VP8 ", "pixels") + chunk("EXIF", "Exif\0\0GPS") +
                     chunk("XMP ", "<x/>");
  std::string webp = "RIFF" + le32(static_cast<uint32_t>(body.size())) + body;
  auto out = strip_webp_metadata(webp);
  REQUIRE(out);
  CHECK(out->find("EXIF") == std::string::npos);
  CHECK(out->find("GPS") == std::string::npos);
  CHECK(out->find("ICCP") == std::string::npos);
  CHECK(out->find("XMP ") == std::string::npos);
  CHECK(out->find("VP8 ") != std::string::npos);
  CHECK(((*out)[20] & 0x2C) == 0);  // VP8X flags
  CHECK(static_cast<size_t>(static_cast<unsigned char>((*out)[4])) + 8 == out->size());
  CHECK_FALSE(strip_webp_metadata("RIFF\x10\0\0\0WEBPVP8 "));
  CHECK_FALSE(strip_webp_metadata("GIF89a"));
}

TEST_CASE("settings bodies are read whole or refused naming every field", "[protocols][content]") {
  json_body ok{R"({"max_upload_bytes":1048576,"allowed_types":["image/png","application/pdf","image/png"],)"
               R"("archives":true,"pdf_rasterize":false,"retain_original_s":3600})"};
  auto s = read_content_settings(ok, 8 << 20);
  REQUIRE(s);
  CHECK(s->allowed_types == std::vector<std::string>{"image/png", "application/pdf"});
  CHECK(s->archives);
  json_body bad{R"({"max_upload_bytes":0,"allowed_types":["text/html"],"archives":1,"retain_original_s":-1,"x":1})"};
  CHECK_FALSE(read_content_settings(bad, 8 << 20));
  std::set<std::string> fields;
  for (const auto& e : bad.errors()) fields.insert(e.field);
  CHECK(fields == std::set<std::string>{"max_upload_bytes", "allowed_types.0", "archives", "pdf_rasterize",
                                        "retain_original_s", "x"});
}

TEST_CASE("download tokens: forged or foreign is not found, late is expired", "[protocols][content]") {
  content_token t;
  t.tenant = "11111111-2222-4333-8444-555555555555";
  t.content = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
  t.user = "01234567-89ab-4cde-8f01-23456789abcd";
  t.session = "fedcba98-7654-4321-8fed-cba987654321";
  t.nonce = "00112233445566778899aabb";
  t.expires = 1000;
  t.once = true;
  auto token = sign_content_token(t, "key-one");
  REQUIRE_FALSE(token.empty());
  auto back = verify_content_token(token, "key-one", 999);
  REQUIRE(back);
  CHECK(back->tenant == t.tenant);
  CHECK(back->content == t.content);
  CHECK(back->user == t.user);
  CHECK(back->session == t.session);
  CHECK(back->nonce == t.nonce);
  CHECK(back->expires == 1000);
  CHECK(back->once);
  CHECK(verify_content_token(token, "key-one", 1000).error().code() == static_cast<uint8_t>(errc::content_token_expired));
  CHECK(verify_content_token(token, "key-two", 999).error().code() == static_cast<uint8_t>(errc::resource_not_found));
  auto tampered = token;
  tampered[5] = tampered[5] == 'A' ? 'B' : 'A';
  CHECK(verify_content_token(tampered, "key-one", 999).error().code() == static_cast<uint8_t>(errc::resource_not_found));
  CHECK(verify_content_token("x.y", "key-one", 999).error().code() == static_cast<uint8_t>(errc::resource_not_found));
  CHECK(verify_content_token(std::string(300, 'a'), "key-one", 999).error().code() == static_cast<uint8_t>(errc::resource_not_found));
  t.tenant = "not-a-uuid";
  CHECK(sign_content_token(t, "key-one").empty());
}
