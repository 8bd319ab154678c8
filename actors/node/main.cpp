// actors/node/main.cpp: the nextcrm entry point. Reads the configuration, then
// runs one command: serve (the node until SIGTERM/SIGINT), migrate, version.
#include "actors/node/admin.hpp"
#include "actors/core/build_info.hpp"
#include "actors/node/config.hpp"
#include "actors/node/node.hpp"
#include "protocols/json_writer.hpp"
#include "protocols/problem.hpp"
#include "storage/pg/migrations.hpp"

#include <caf/all.hpp>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string_view>

namespace {

using namespace crm::actors;

int run_migrate(const config& cfg, log_sink& log) {
  auto report = crm::storage::run_migrations(
      cfg.pg_migrate_url, cfg.migrations_dir, [&](const std::string& line) {
        log.event(log_level::info, line);
      });
  if (!report) {
    auto problem = crm::protocols::to_problem(report.error());
    std::string fields = "\"error\":";
    crm::protocols::append_json_string(fields, problem.detail);
    log.event(log_level::error, "migrate failed", fields);
    return 1;
  }
  log.event(log_level::info, "migrate done",
            "\"applied\":" + std::to_string(report->applied.size()) +
                ",\"already_applied\":" + std::to_string(report->already_applied));
  return 0;
}

int run_serve(const config& cfg, log_sink& log) {
  // Block the stop signals in every thread; this thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (!cfg.chaos.empty()) sigaddset(&stop_signals, SIGUSR2);  // NEXTCRM_CHAOS: every planned kind once
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  caf::actor_system_config caf_cfg;
  caf_cfg.set("scheduler.max-threads", cfg.workers);  // CAF's default is 4 on 2 cores
  caf_cfg.set("scheduler.policy", cfg.scheduler == "stealing" ? caf::atom("stealing") : caf::atom("sharing"));
  caf_cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{caf_cfg};
  {
    node n{sys, cfg, log};
    std::string error;
    if (!n.start(error)) {
      std::string fields = "\"error\":";
      crm::protocols::append_json_string(fields, error);
      log.event(log_level::error, "start failed", fields);
      return 1;
    }
    int sig = 0;
    while (sigwait(&stop_signals, &sig) == 0 && sig == SIGUSR2) {
      log.event(log_level::warn, "chaos", "\"signal\":\"SIGUSR2\"");
      n.chaos_now();
    }
    log.event(log_level::info, "shutting down",
              "\"signal\":\"" + std::string{sig == SIGTERM ? "SIGTERM" : "SIGINT"} + "\"");
    n.stop();
  }
  sys.await_all_actors_done();
  log.event(log_level::info, "stopped");
  return 0;
}

} // namespace

// True when the command of `argv` is `admin`.
static bool is_admin_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (argv[i][0] != '-') return std::string_view{argv[i]} == "admin";
  return false;
}

int main(int argc, char** argv) {
  config cfg;
  std::string error;
  // `nextcrm admin` inside a clone whose dev stack is up: the settings not
  // in the environment come from the stack's .run/nextcrm.env.
  std::map<std::string, std::string> dev_env;
  if (is_admin_command(argc, argv)) {
    if (auto path = find_dev_env("."); !path.empty()) {
      dev_env = read_env_file(path);
      std::cerr << "nextcrm admin: settings not in the environment from " << path << "\n";
    }
  }
  auto getenv = [&](const char* name) -> const char* {
    if (const char* v = std::getenv(name); v && *v) return v;
    auto it = dev_env.find(name);
    return it == dev_env.end() ? nullptr : it->second.c_str();
  };
  if (!load_config(argc, argv, getenv, cfg, error)) {
    std::cerr << "nextcrm: " << error << "\n";
    return 2;
  }
  if (cfg.help) {
    std::cout << help_text();
    return 0;
  }
  if (cfg.command == "version") {
    crm::protocols::json_writer w;
    w.begin_object();
    w.key("service").string("nextcrm");
    w.key("version").string(crm::build_version);
    w.key("commit").string(crm::build_commit);
    w.end_object();
    std::cout << w.view() << "\n";
    return 0;
  }
  log_sink log{1, cfg.level};
  if (cfg.command == "migrate") return run_migrate(cfg, log);
  if (cfg.command == "admin") return run_admin(cfg, log);
  return run_serve(cfg, log);
}
