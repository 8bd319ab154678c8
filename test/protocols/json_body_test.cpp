// Tests protocols/json_body.cpp: malformed bodies, every field error, the
// validation problem's errors array.
#include "protocols/json_body.hpp"
#include "protocols/problem.hpp"

#include <catch2/catch.hpp>

using namespace crm::protocols;

TEST_CASE("malformed bodies are request.malformed_json", "[protocols][json_body]") {
  for (std::string_view bad : {"", "{", "[1,2]", "\"text\"", "{\"a\":1,}", "{\"a\":\"\xff\"}", "nul"}) {
    CAPTURE(bad);
    json_body b{bad};
    CHECK_FALSE(b.ok());
    CHECK(b.malformed_error() == errc::request_malformed_json);
  }
}

TEST_CASE("every bad field is listed in one validation problem", "[protocols][json_body]") {
  json_body b{R"({"slug":42,"name":"","admin":{"email":"x@y.z","password":"short"},"extra":true})"};
  REQUIRE(b.ok());
  b.allow_only("", {"slug", "name", "admin"});
  b.allow_only("admin", {"email", "password"});
  CHECK_FALSE(b.string("slug"));
  CHECK_FALSE(b.string("name", {true, 1, 200}));
  CHECK(b.string("admin.email") == "x@y.z");
  CHECK_FALSE(b.string("admin.password", {true, 12, 1024}));
  CHECK_FALSE(b.string("missing"));
  CHECK_FALSE(b.string("optional", {false, 0, 10}));
  REQUIRE(b.errors().size() == 5);
  auto p = to_problem(b.validation_error());
  CHECK(p.kind.status == 422);
  CHECK(p.errors_json ==
        R"([{"field":"extra","code":"unknown","detail":"unknown field"},)"
        R"({"field":"slug","code":"type","detail":"slug must be a string"},)"
        R"({"field":"name","code":"too_short","detail":"name is shorter than 1 characters"},)"
        R"({"field":"admin.password","code":"too_short","detail":"admin.password is shorter than 12 characters"},)"
        R"({"field":"missing","code":"required","detail":"missing is required"}])");
  CHECK(problem_json(p, "t").find(R"("errors":[{"field":"extra")") != std::string::npos);
}

TEST_CASE("string length counts characters and caps bytes", "[protocols][json_body]") {
  json_body b{R"({"a":"ééé","b":"abcd"})"};
  CHECK(b.string("a", {true, 0, 3}) == "ééé");
  CHECK_FALSE(b.string("b", {true, 0, 3}));
  CHECK(b.errors().at(0).code == "too_long");
}

TEST_CASE("email plausibility", "[protocols][json_body]") {
  CHECK(is_plausible_email("a@acme.test"));
  CHECK(is_plausible_email("first.last+tag@sub.example.com"));
  for (auto bad : {"", "a", "@acme.test", "a@", "a@acme", "a@@acme.test", "a b@acme.test", "a@acme.test.",
                   "a@.acme"})
    CHECK_FALSE(is_plausible_email(bad));
  CHECK(ascii_lower("A@ACME.Test") == "a@acme.test");
}

TEST_CASE("arrays are read by index paths", "[protocols][json_body]") {
  json_body body{R"({"a":[{"x":"1"},{"x":2}],"o":{"k":[]},"s":"t"})"};
  CHECK(body.array("a", true, 10) == std::optional<size_t>{2});
  CHECK(body.string("a.0.x") == std::optional<std::string>{"1"});
  CHECK_FALSE(body.string("a.1.x"));
  CHECK_FALSE(body.has("a.2"));
  CHECK_FALSE(body.has("a.01"));  // no leading zeros
  CHECK(body.array("o.k", true, 10) == std::optional<size_t>{0});
  CHECK_FALSE(body.array("s", true, 10));
  CHECK_FALSE(body.array("a", true, 1));
  CHECK_FALSE(body.array("missing", false, 1));
  CHECK(body.is_object("o"));
  CHECK_FALSE(body.is_object("a"));
  std::vector<std::string> codes;
  for (const auto& e : body.errors()) codes.push_back(e.field + ":" + e.code);
  CHECK(codes == std::vector<std::string>{"a.1.x:type", "s:type", "a:too_long"});
}
