#!/usr/bin/env python3
"""Integration: `nextcrm admin create-tenant`, as a newcomer runs it.

- Inside a clone whose dev stack is up, it needs no NEXTCRM_PG_URL: the
  settings come from .run/nextcrm.env (written by deploy/dev.sh up).
- An unreachable PostgreSQL is one clear line naming host, port and reason,
  and exit 1 (not pages of retries).
- Bad input is a problem with a trace id, and nothing is written.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402


def admin(args, cwd, env_extra=None, pg_url=True):
    cfg = h.require_env()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTCRM_") or k.startswith("NEXTCRM_TEST_")}
    env["NEXTCRM_ADMIN_PASSWORD"] = h.new_password()
    if pg_url:
        env["NEXTCRM_PG_URL"] = cfg["NEXTCRM_TEST_PG_URL"]
    env.update(env_extra or {})
    return subprocess.run([cfg["NEXTCRM_BIN"], "admin", "create-tenant"] + list(args), env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def tenant_rows(slug):
    cfg = h.require_env()
    # RLS: the tenants row is visible to a transaction naming its slug (as login does)
    return h.psql(cfg["NEXTCRM_TEST_PG_OWNER_URL"],
                  "BEGIN; SELECT set_config('app.tenant_slug', '%s', true); "
                  "SELECT count(*) FROM tenants WHERE slug = '%s'; COMMIT" % (slug, slug))[-1][0]


class AdminCli(unittest.TestCase):
    def setUp(self):
        h.require_env()
        self.clone = tempfile.mkdtemp(prefix="nextcrm-clone-")
        os.makedirs(os.path.join(self.clone, ".run"))
        os.makedirs(os.path.join(self.clone, "sub", "dir"))

    def write_dev_env(self, pg_url):
        with open(os.path.join(self.clone, ".run", "nextcrm.env"), "w") as f:
            f.write("# written by deploy/dev.sh up\nNEXTCRM_PG_URL='%s'\n" % pg_url)

    def test_inside_a_clone_the_dev_stack_settings_are_read(self):
        self.write_dev_env(h.require_env()["NEXTCRM_TEST_PG_URL"])
        slug = h.unique_slug("cli")
        r = admin(["--slug=" + slug, "--name=Cli Ltd", "--admin-email=a@%s.test" % slug],
                  cwd=os.path.join(self.clone, "sub", "dir"), pg_url=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(".run/nextcrm.env", r.stderr)
        data = json.loads(r.stdout)["data"]
        self.assertEqual(data["slug"], slug)
        self.assertTrue(h.is_uuid(data["id"]))
        self.assertEqual(tenant_rows(slug), "1")

    def test_the_environment_wins_over_the_dev_env_file(self):
        self.write_dev_env("host=127.0.0.1 port=1 dbname=nowhere user=nobody")
        slug = h.unique_slug("cli")
        r = admin(["--slug=" + slug, "--name=Env Ltd", "--admin-email=a@%s.test" % slug], cwd=self.clone)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_an_unreachable_database_is_one_clear_line(self):
        port = h.free_port()
        slug = h.unique_slug("cli")
        r = admin(["--slug=" + slug, "--name=X", "--admin-email=a@x.test"], cwd=self.clone,
                  env_extra={"NEXTCRM_PG_URL": "host=127.0.0.1 port=%d dbname=nextcrm user=nextcrm_app" % port})
        self.assertEqual(r.returncode, 1, r)
        first = r.stderr.splitlines()[0]
        self.assertIn("cannot connect to PostgreSQL", first)
        self.assertIn("host=127.0.0.1 port=%d" % port, first)
        self.assertIn("refused", first.lower())
        self.assertLessEqual(len(r.stderr.splitlines()), 3, r.stderr)
        self.assertNotIn("password", r.stderr)

    def test_bad_input_is_a_problem_with_a_trace_id_and_writes_nothing(self):
        slug = h.unique_slug("cli")
        r = admin(["--slug=" + slug, "--name=X", "--admin-email=not-an-email"], cwd=self.clone)
        self.assertEqual(r.returncode, 1, r)
        problem = json.loads(r.stderr.strip().splitlines()[-1])
        self.assertEqual(problem["code"], "request.validation")
        self.assertRegex(problem["trace_id"], r"^[0-9a-f]{32}$")
        self.assertEqual([e["field"] for e in problem["errors"]], ["admin.email"])
        self.assertEqual(tenant_rows(slug), "0")

    def test_a_taken_slug_is_a_409_problem_with_a_trace_id(self):
        slug = h.unique_slug("cli")
        self.assertEqual(admin(["--slug=" + slug, "--name=X", "--admin-email=a@x.test"], cwd=self.clone).returncode, 0)
        r = admin(["--slug=" + slug, "--name=Y", "--admin-email=b@x.test"], cwd=self.clone)
        self.assertEqual(r.returncode, 1, r)
        problem = json.loads(r.stderr.strip().splitlines()[-1])
        self.assertEqual(problem["status"], 409)
        self.assertRegex(problem["trace_id"], r"^[0-9a-f]{32}$")
        self.assertEqual(tenant_rows(slug), "1")


if __name__ == "__main__":
    h.main()
