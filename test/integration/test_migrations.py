#!/usr/bin/env python3
"""`nextcrm migrate` is idempotent: run twice (and twice at once) against the
owner role, the second run applies nothing and schema_migrations is unchanged.
Run: python3 test/integration/test_migrations.py
"""

import glob
import os
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402

ROWS_SQL = ("SELECT version, name, checksum, applied_at FROM schema_migrations "
            "ORDER BY version")


class MigrationsAreIdempotent(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cfg = h.require_env()
        cls.owner = cls.cfg["NEXTCRM_TEST_PG_OWNER_URL"]
        cls.app = cls.cfg["NEXTCRM_TEST_PG_URL"]
        cls.files = sorted(glob.glob(os.path.join(
            cls.cfg["NEXTCRM_SOURCE_DIR"], "storage", "migrations", "*.sql")))

    def migrate(self):
        r = h.run_nextcrm(["migrate"])
        self.assertEqual(r.returncode, 0,
                         "nextcrm migrate failed\nstdout:\n%s\nstderr:\n%s" % (r.stdout, r.stderr))
        return r

    def rows(self):
        return h.psql(self.owner, ROWS_SQL)

    def test_1_table_shape(self):
        self.migrate()
        cols = {c for (c,) in h.psql(self.owner,
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = 'schema_migrations'")}
        self.assertTrue({"version", "name", "checksum", "applied_at"} <= cols, cols)

    def test_2_every_file_recorded(self):
        self.migrate()
        self.assertTrue(self.files, "no storage/migrations/*.sql")
        self.assertEqual(len(self.rows()), len(self.files),
                         "one schema_migrations row per file %s" % [os.path.basename(f) for f in self.files])

    def test_3_second_run_changes_nothing(self):
        self.migrate()
        before = self.rows()
        self.assertTrue(before)
        self.migrate()
        self.assertEqual(self.rows(), before)

    def test_4_concurrent_runs_change_nothing(self):
        self.migrate()
        before = self.rows()
        env = dict(os.environ)
        env.update({
            "NEXTCRM_PG_URL": self.app,
            "NEXTCRM_PG_MIGRATE_URL": self.owner,
            "NEXTCRM_MIGRATIONS_DIR": os.path.join(self.cfg["NEXTCRM_SOURCE_DIR"], "storage", "migrations"),
        })
        procs = [subprocess.Popen([self.cfg["NEXTCRM_BIN"], "migrate"], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        for p in procs:
            out, _ = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, out)
        self.assertEqual(self.rows(), before)

    def test_5_roles(self):
        """The tables belong to the owner; the app role is no superuser and cannot bypass RLS."""
        self.migrate()
        (app,) = h.psql(self.owner, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'nextcrm_app'")
        self.assertEqual(app, ["f", "f"])
        owners = {o for (o,) in h.psql(self.owner,
                  "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")}
        self.assertEqual(owners, {"nextcrm_owner"})
        (who,) = h.psql(self.app, "SELECT current_user")
        self.assertEqual(who, ["nextcrm_app"])


if __name__ == "__main__":
    h.main()
