// Tests protocols/nxp.cpp: which envelopes a node applies to its live state.
#include "protocols/nxp.hpp"

#include <catch2/catch.hpp>

using crm::protocols::nxp_signal;
using crm::protocols::signal_of;

namespace {

const std::string tenant = "0b3f8a2c-1d4e-4f5a-8b6c-7d8e9f0a1b2c";
const std::string session = "1c4f8a2c-1d4e-4f5a-8b6c-7d8e9f0a1b2c";
const std::string user = "2d5f8a2c-1d4e-4f5a-8b6c-7d8e9f0a1b2c";

std::string envelope(const std::string& type, const std::string& data) {
  return R"({"specversion":"1.0","id":"3e6f8a2c-1d4e-4f5a-8b6c-7d8e9f0a1b2c","source":"nextcrm/core","type":")" +
         type + R"(","time":"2026-12-03T10:00:00.000000Z","datacontenttype":"application/json","subject":"x","tenantid":")" +
         tenant + R"(","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","data":)" + data + "}";
}

} // namespace

TEST_CASE("nxp: a revoked session names the session and its user", "[protocols][nxp]") {
  auto s = signal_of(envelope("crm.session.revoked",
                              R"({"id":")" + session + R"(","user_id":")" + user + R"(","reason":"logout"})"));
  REQUIRE(s);
  CHECK(s->what == nxp_signal::kind::session_revoked);
  CHECK(s->tenant == tenant);
  CHECK(s->id == session);
  CHECK(s->user_id == user);
}

TEST_CASE("nxp: a locked or changed user names the user; a profile change the tenant", "[protocols][nxp]") {
  for (auto type : {"crm.user.locked", "crm.user.updated"}) {
    auto s = signal_of(envelope(type, R"({"id":")" + user + R"(","role":"sales"})"));
    REQUIRE(s);
    CHECK(s->what == nxp_signal::kind::user_changed);
    CHECK(s->id == user);
  }
  // an unlock: the guard's budget actors judge the user afresh
  auto unlocked = signal_of(envelope("crm.user.unlocked", R"({"id":")" + user + R"("})"));
  REQUIRE(unlocked);
  CHECK(unlocked->what == nxp_signal::kind::user_changed);
  for (auto type : {"crm.guard_budget.created", "crm.guard_budget.deleted", "crm.guard_honeytoken.created"}) {
    auto s = signal_of(envelope(type, R"({"id":")" + user + R"("})"));
    REQUIRE(s);
    CHECK(s->what == nxp_signal::kind::guard_changed);
  }
  for (auto type : {"crm.access_profile.created", "crm.access_profile.updated"}) {
    auto s = signal_of(envelope(type, R"({"name":"p"})"));
    REQUIRE(s);
    CHECK(s->what == nxp_signal::kind::profiles_changed);
    CHECK(s->tenant == tenant);
  }
}

TEST_CASE("nxp: other types and malformed envelopes carry no signal", "[protocols][nxp]") {
  CHECK_FALSE(signal_of(envelope("crm.customer.updated", R"({"id":")" + user + R"("})")));
  CHECK_FALSE(signal_of(envelope("crm.session.revoked", R"({"id":"not-a-uuid","user_id":")" + user + R"("})")));
  CHECK_FALSE(signal_of(envelope("crm.user.locked", R"({})")));
  CHECK_FALSE(signal_of("not json"));
  CHECK_FALSE(signal_of(R"({"type":"crm.user.locked","tenantid":"x","data":{"id":")" + user + R"("}})"));
}
