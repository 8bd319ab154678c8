#!/usr/bin/env python3
"""Integration: the content pipeline (Block 7, docs/CONTENT.md) on one node.

Uploads stream into the quarantine (raw and multipart), a content job actor
scans them (ClamAV with the project's EICAR signature), rebuilds them in the
sandbox (libvips, qpdf, text/CSV rules) and stores the artifact by its
SHA-256; short-lived HMAC download tokens serve only the safe artifact.
Every fixture is made by the test itself (content_fixtures.py).
"""
import hashlib
import io
import os
import sys
import time
import unittest
import urllib.parse
import uuid
import zipfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nextcrm_harness as h  # noqa: E402
import content_fixtures as fx  # noqa: E402
from nextcrm_harness import USERS, VALIDATION, REVOKED  # noqa: E402

S = None
STREAM = "nxp:test:content"
UPLOADS = "/content/v1/uploads"
ITEMS = "/content/v1/items/"
SETTINGS = "/content/v1/settings"
NODE_CAP = 8 * 1024 * 1024  # the module server's NEXTCRM_CONTENT_MAX_UPLOAD_BYTES
TRACE = "4bf92f3577b34da6a3ce929d0e0e%04x"


def setUpModule():
    global S
    h.require_env()
    S = h.start_module_server(env={"NEXTCRM_BUS_STREAM": STREAM,
                                   "NEXTCRM_CONTENT_MAX_UPLOAD_BYTES": str(NODE_CAP)})


def quarantine_files(server):
    return sorted(os.listdir(os.path.join(server.env["NEXTCRM_CONTENT_DIR"], "quarantine")))


def wait_quarantine(server, before):
    """The quarantine holds no file it did not hold before (a refused
    upload's file is removed as its exchange ends, right after the answer;
    jobs of earlier tests may still be removing theirs)."""
    try:
        h.wait_for(lambda: set(quarantine_files(server)) <= set(before), 5, what="no new file in the quarantine")
    except AssertionError:
        raise AssertionError("quarantine before %r, now %r" % (before, quarantine_files(server)))


def multipart(data, filename, ctype, boundary="nextcrm-test-boundary-7d1f"):
    head = ("--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored field\r\n"
            "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
            "Content-Type: %s\r\n\r\n" % (boundary, boundary, filename, ctype)).encode()
    return head + data + ("\r\n--%s--\r\n" % boundary).encode(), "multipart/form-data; boundary=" + boundary


class ContentCase(unittest.TestCase):
    server = None

    @property
    def srv(self):
        return self.server or S

    def setUp(self):
        self.tenant = h.bootstrap_tenant(self.srv)
        self.login = h.login_token(self.srv, self.tenant)
        self.admin = self.login["access_token"]

    def call(self, method, path, body=None, token=None, headers=None):
        return h.api(self.srv.port, method, path, body, token=token or self.admin, headers=headers)

    def upload(self, data, filename, ctype, token=None, headers=None, form=False):
        hdrs = {"Authorization": "Bearer " + (token or self.admin)}
        path = UPLOADS
        if form:
            data, ctype = multipart(data, filename, ctype)
        else:
            path += "?filename=" + urllib.parse.quote(filename)
        hdrs["Content-Type"] = ctype
        hdrs.update(headers or {})
        return h.request(self.srv.port, "POST", path, headers=hdrs, body=data, timeout=60)

    def item(self, cid, token=None):
        r = self.call("GET", ITEMS + cid, token=token)
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]

    def final(self, cid, timeout=30):
        got = {}

        def probe():
            got.update(self.item(cid))
            return got["status"] in ("safe", "rejected")
        h.wait_for(probe, timeout, interval=0.05, what="content %s safe or rejected" % cid)
        return got

    def accepted(self, data, filename, ctype, **kw):
        r = self.upload(data, filename, ctype, **kw)
        self.assertEqual(r.status, 202, r)
        return r.json()["data"]

    def token(self, cid, body=None, token=None):
        r = self.call("POST", ITEMS + cid + "/download-tokens", body, token=token)
        self.assertEqual(r.status, 201, r)
        return r.json()["data"]

    def download(self, url, token=None):
        hdrs = {"Authorization": "Bearer " + token} if token else {}
        return h.request(self.srv.port, "GET", url, headers=hdrs, timeout=30)

    def safe_bytes(self, data, filename, ctype, **kw):
        """Uploads, waits for safe, downloads; returns (item, response)."""
        up = self.accepted(data, filename, ctype, **kw)
        it = self.final(up["id"])
        self.assertEqual(it["status"], "safe", it)
        r = self.download(self.token(up["id"])["url"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), it["safe"]["sha256"])
        self.assertEqual(len(r.body), it["safe"]["size"])
        return it, r

    def rejected(self, data, filename, ctype, reason, **kw):
        up = self.accepted(data, filename, ctype, **kw)
        it = self.final(up["id"])
        self.assertEqual(it["status"], "rejected", it)
        self.assertEqual(it["reason"], reason, it)
        self.assertTrue(it["detail"], it)
        self.assertIsNone(it["safe"], it)
        # never served: no token for it
        r = self.call("POST", ITEMS + up["id"] + "/download-tokens")
        h.check_problem(self, r, 422, "content.rejected")
        return it

    def new_user(self, role="sales"):
        email = "c-%s@content.test" % h.tag()
        pw = h.new_password()
        r = self.call("POST", USERS, {"email": email, "password": pw, "role": role})
        self.assertEqual(r.status, 201, r)
        uid = r.json()["data"]["id"]
        return uid, h.login_token(self.srv, self.tenant, email=email, password=pw)["access_token"]

    def count_items(self):
        app_url = h.require_env("NEXTCRM_TEST_PG_URL")["NEXTCRM_TEST_PG_URL"]
        return int(h.psql_tenant(app_url, self.tenant.id, "SELECT count(*) FROM content_items")[0][0])

    def put_settings(self, **changes):
        s = self.call("GET", SETTINGS).json()["data"]
        body = {k: s[k] for k in ("max_upload_bytes", "allowed_types", "archives", "pdf_rasterize",
                                  "retain_original_s")}
        body.update(changes)
        r = self.call("PUT", SETTINGS, body)
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]


class Sanitizing(ContentCase):
    def test_a_jpeg_with_gps_exif_becomes_safe_with_every_event_of_its_trace_and_no_metadata(self):
        data = fx.jpeg_with_gps_exif()
        trace = TRACE % 1
        up = self.accepted(data, "../../etc/holiday photo.jpg", "image/jpeg",
                           headers={"traceparent": "00-%s-00f067aa0ba902b7-01" % trace})
        self.assertEqual(set(up) >= {"id", "status", "filename", "size", "sha256"}, True, up)
        self.assertEqual(up["status"], "quarantined")
        self.assertEqual(up["filename"], "holiday photo.jpg")  # path parts never kept
        self.assertEqual(up["size"], len(data))
        self.assertEqual(up["sha256"], hashlib.sha256(data).hexdigest())
        it = self.final(up["id"])
        self.assertEqual(it["status"], "safe", it)
        self.assertEqual((it["sniffed_mime"], it["safe"]["mime"], it["type_mismatch"]),
                         ("image/jpeg", "image/jpeg", False))
        r = self.download(self.token(up["id"])["url"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type"), "image/jpeg")
        self.assertTrue(r.header("content-disposition").startswith("attachment;"), r)
        self.assertEqual(r.header("x-content-type-options"), "nosniff")
        self.assertIn("sandbox", r.header("content-security-policy"))
        self.assertEqual(r.body[:2], b"\xff\xd8")
        for marker in fx.GPS_MARKERS:
            self.assertNotIn(marker, r.body)
        envs = h.wait_bus_envelopes(S.env["NEXTCRM_TEST_REDIS_ADDR"], STREAM, self.tenant.id,
                                    lambda got: any(e["type"] == "content.item.safe" for e in got))
        mine = [e for e in envs if e["subject"] == "content/items/" + up["id"]]
        self.assertEqual([e["type"] for e in mine],
                         ["content.item.quarantined", "content.item.processing", "content.item.safe"])
        for e in mine:
            self.assertEqual(e["traceparent"].split("-")[1], trace, e)
            self.assertEqual(e["source"], "nextcrm/content", e)
        self.assertEqual(mine[-1]["data"]["safe"]["sha256"], it["safe"]["sha256"])

    def test_a_webp_sent_as_multipart_loses_its_exif(self):
        it, r = self.safe_bytes(fx.webp_with_exif(), "pic.webp", "image/webp", form=True)
        self.assertEqual(it["filename"], "pic.webp")
        self.assertEqual(it["safe"]["mime"], "image/webp")
        self.assertEqual(r.body[:4], b"RIFF")
        for marker in fx.WEBP_EXIF_MARKERS:
            self.assertNotIn(marker, r.body)

    def test_a_pdf_keeps_its_text_and_loses_javascript_actions_and_embedded_files(self):
        it, r = self.safe_bytes(fx.pdf_with_js_and_attachment(), "offer.pdf", "application/pdf")
        self.assertEqual(it["safe"]["mime"], "application/pdf")
        self.assertTrue(r.body.startswith(b"%PDF-"))
        self.assertIn(fx.PDF_TEXT_DEFAULT.encode(), r.body)
        for marker in fx.PDF_ACTIVE_MARKERS:
            self.assertNotIn(marker, r.body)

    def test_a_pdf_is_rendered_to_pixels_when_the_tenant_asks(self):
        self.put_settings(pdf_rasterize=True)
        it, r = self.safe_bytes(fx.pdf_with_js_and_attachment(), "offer.pdf", "application/pdf")
        self.assertTrue(r.body.startswith(b"%PDF-"))
        self.assertIn(b"/DCTDecode", r.body)  # pages are images now
        self.assertNotIn(fx.PDF_TEXT_DEFAULT.encode(), r.body)
        for marker in fx.PDF_ACTIVE_MARKERS:
            self.assertNotIn(marker, r.body)

    def test_the_original_is_kept_for_forensics_when_asked_and_never_served(self):
        self.put_settings(retain_original_s=3600)
        retained = os.path.join(S.env["NEXTCRM_CONTENT_DIR"], "retained")
        before = set(os.listdir(retained))
        data = fx.jpeg_with_gps_exif()
        it, r = self.safe_bytes(data, "kept.jpg", "image/jpeg")
        new = set(os.listdir(retained)) - before
        self.assertEqual(len(new), 1, new)
        name = new.pop()
        self.assertGreater(int(name.split("-")[0]), time.time() + 3000)  # kept until about an hour from now
        with open(os.path.join(retained, name), "rb") as f:
            self.assertEqual(f.read(), data)  # the original, GPS and all
        self.assertNotEqual(r.body, data)  # what is served is the rebuilt file

    def test_a_download_is_named_for_what_the_file_is_now(self):
        it, r = self.safe_bytes(fx.jpeg(), "invoice.exe", "application/octet-stream")
        self.assertEqual(it["filename"], "invoice.exe")  # recorded as declared
        self.assertEqual(it["safe"]["mime"], "image/jpeg")
        self.assertIn('filename="invoice.exe.jpg"', r.header("content-disposition"))

    def test_a_jpeg_zip_polyglot_is_re_encoded_and_the_zip_is_gone(self):
        it, r = self.safe_bytes(fx.jpeg_zip_polyglot(), "poly.jpg", "image/jpeg")
        for marker in fx.POLYGLOT_MARKERS:
            self.assertNotIn(marker, r.body)

    def test_csv_formulas_are_neutralized_and_phone_numbers_survive(self):
        it, r = self.safe_bytes(fx.csv_with_formulas(), "leads.csv", "text/csv")
        self.assertEqual(it["safe"]["mime"], "text/csv")
        text = r.body.decode()
        self.assertNotIn("\r", text)
        self.assertIn("+33 1 23 45 67 89", text)
        self.assertIn("Bob,-5,", text)
        self.assertIn("'@SUM(A1:A2)", text)
        self.assertIn("'=HYPERLINK", text)
        self.assertNotIn(",=", text)
        self.assertNotIn(",@", text)


class Rejecting(ContentCase):
    def test_eicar_is_rejected_by_the_scanner(self):
        it = self.rejected(fx.eicar(), "readme.txt", "text/plain", "scan.infected")
        self.assertIn("EICAR", it["detail"])

    def test_html_renamed_jpg_is_rejected_and_the_mismatch_recorded(self):
        it = self.rejected(fx.html_as_jpg(), "cat.jpg", "image/jpeg", "type.dangerous")
        self.assertEqual((it["declared_mime"], it["sniffed_mime"], it["type_mismatch"]),
                         ("image/jpeg", "text/html", True))

    def test_a_pixel_bomb_is_rejected_before_decoding(self):
        self.rejected(fx.png_pixel_bomb(), "bomb.png", "image/png", "image.too_many_pixels")

    def test_a_zip_is_rejected_and_a_zip_bomb_too_when_archives_are_enabled(self):
        bomb = fx.zip_bomb()
        self.rejected(bomb, "data.zip", "application/zip", "type.archive")
        self.put_settings(archives=True, allowed_types=["image/jpeg", "application/zip"])
        self.rejected(bomb, "data.zip", "application/zip", "archive.bomb")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("notes/a.txt", "hello " * 1000)
        it, r = self.safe_bytes(buf.getvalue(), "notes.zip", "application/zip")
        self.assertEqual(zipfile.ZipFile(io.BytesIO(r.body)).read("notes/a.txt"), b"hello " * 1000)

    def test_an_office_document_needs_libreoffice(self):
        if os.access("/usr/bin/soffice", os.X_OK):
            it, r = self.safe_bytes(fx.office_docx(), "memo.docx",
                                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
            self.assertEqual(it["safe"]["mime"], "application/pdf")
        else:
            it = self.rejected(fx.office_docx(), "memo.docx",
                               "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                               "office.unsupported")
            self.assertIn("LibreOffice", it["detail"])

    def test_a_type_outside_the_tenants_allowlist_is_rejected(self):
        self.put_settings(allowed_types=["image/png"])
        self.rejected(fx.jpeg(), "a.jpg", "image/jpeg", "type.not_allowed")


class Limits(ContentCase):
    def test_an_upload_over_the_nodes_cap_is_413_while_streaming_and_leaves_nothing(self):
        before = quarantine_files(S)
        r = self.upload(fx.big_bytes(NODE_CAP + 200 * 1024), "big.bin", "application/octet-stream")
        h.check_problem(self, r, 413, "request.too_large")
        wait_quarantine(S, before)
        self.assertEqual(self.count_items(), 0)

    def test_an_upload_over_the_tenants_cap_is_413_and_leaves_nothing(self):
        self.put_settings(max_upload_bytes=1024 * 1024)
        before = quarantine_files(S)
        r = self.upload(fx.big_bytes(2 * 1024 * 1024), "big.bin", "application/octet-stream")
        h.check_problem(self, r, 413, "request.too_large")
        self.assertIn("1048576", r.json()["detail"])
        wait_quarantine(S, before)
        self.assertEqual(self.count_items(), 0)

    def test_no_token_no_file_and_a_viewer_may_not_upload(self):
        before = quarantine_files(S)
        r = h.request(S.port, "POST", UPLOADS + "?filename=a.jpg", headers={"Content-Type": "image/jpeg"},
                      body=fx.jpeg())
        h.check_problem(self, r, 401, "auth.missing_token")
        r = self.upload(fx.jpeg(), "a.jpg", "image/jpeg", token="not-a-token")
        h.check_problem(self, r, 401, "auth.invalid_token")
        _, viewer = self.new_user("viewer")
        r = self.upload(fx.jpeg(), "a.jpg", "image/jpeg", token=viewer)
        h.check_problem(self, r, 403, "auth.forbidden")
        wait_quarantine(S, before)
        self.assertEqual(self.count_items(), 0)

    def test_a_malformed_multipart_body_is_400_and_an_empty_upload_422(self):
        before = quarantine_files(S)
        r = self.upload(b"--x\r\nno headers end", "a", "multipart/form-data; boundary=x")
        h.check_problem(self, r, 400, "request.malformed")
        r = self.upload(b"", "empty.txt", "text/plain")
        h.check_problem(self, r, 422, VALIDATION)
        wait_quarantine(S, before)
        self.assertEqual(self.count_items(), 0)

    def test_bad_settings_are_422_naming_every_field_and_change_nothing(self):
        before = self.call("GET", SETTINGS).json()["data"]
        r = self.call("PUT", SETTINGS, {"max_upload_bytes": NODE_CAP + 1, "allowed_types": ["text/html"],
                                        "archives": "yes", "pdf_rasterize": False, "retain_original_s": -1,
                                        "extra": 1})
        h.check_problem(self, r, 422, VALIDATION)
        fields = {e["field"] for e in r.json()["errors"]}
        self.assertTrue({"max_upload_bytes", "allowed_types.0", "archives", "retain_original_s", "extra"} <= fields,
                        fields)
        self.assertEqual(self.call("GET", SETTINGS).json()["data"], before)
        _, sales = self.new_user("sales")
        h.check_problem(self, self.call("GET", SETTINGS, token=sales), 403, "auth.forbidden")


class KeyedUploads(ContentCase):
    """Idempotency-Key on uploads (docs/IDEMPOTENCY.md): the fingerprint
    takes the file's SHA-256; a repeat keeps one item and no second file."""

    def keys(self, key):
        app_url = h.require_env("NEXTCRM_TEST_PG_URL")["NEXTCRM_TEST_PG_URL"]
        return int(h.psql_tenant(app_url, self.tenant.id,
                                 "SELECT count(*) FROM idempotency_keys WHERE key = '%s'" % key)[0][0])

    def test_a_repeated_keyed_upload_answers_the_first_answer_with_one_item_and_no_second_file(self):
        data, key = fx.jpeg(), "upload-" + h.tag()
        first = self.upload(data, "k.jpg", "image/jpeg", headers={"Idempotency-Key": key})
        self.assertEqual(first.status, 202, first)
        formed = self.upload(data, "f.jpg", "image/jpeg", form=True, headers={"Idempotency-Key": key + "-form"})
        self.assertEqual(formed.status, 202, formed)
        before = quarantine_files(S)
        again = self.upload(data, "k.jpg", "image/jpeg", headers={"Idempotency-Key": key})
        self.assertEqual((again.status, again.body), (202, first.body))
        self.assertEqual(again.header("idempotent-replayed"), "true")
        self.assertEqual(again.header("location"), first.header("location"))
        # the fingerprint takes the bytes, the name and the declared type
        for other_bytes, other_name, other_type in ((data + b"\0", "k.jpg", "image/jpeg"),
                                                    (data, "other.jpg", "image/jpeg"),
                                                    (data, "k.jpg", "image/png")):
            other = self.upload(other_bytes, other_name, other_type, headers={"Idempotency-Key": key})
            h.check_problem(self, other, 422, "idempotency.key_reused")
        # ... not a form's boundary, which is the client's to draw anew
        body, ctype = multipart(data, "f.jpg", "image/jpeg", boundary="another-boundary-91c2")
        hdrs = {"Authorization": "Bearer " + self.admin, "Idempotency-Key": key + "-form", "Content-Type": ctype}
        again_form = h.request(S.port, "POST", UPLOADS, headers=hdrs, body=body, timeout=60)
        self.assertEqual((again_form.status, again_form.body), (202, formed.body))
        wait_quarantine(S, before)  # the repeats' files are gone
        self.assertEqual(self.count_items(), 2)
        self.final(first.json()["data"]["id"])

    def test_a_keyed_upload_over_the_tenants_cap_keeps_no_key_and_runs_again_once_it_fits(self):
        self.put_settings(max_upload_bytes=1024 * 1024)
        data, key = fx.big_bytes(2 * 1024 * 1024), "big-" + h.tag()
        r = self.upload(data, "big.bin", "application/octet-stream", headers={"Idempotency-Key": key})
        h.check_problem(self, r, 413, "request.too_large")
        self.assertEqual(self.keys(key), 0, "nothing written, no key")
        self.assertEqual(self.count_items(), 0)
        self.put_settings(max_upload_bytes=4 * 1024 * 1024)
        r = self.upload(data, "big.bin", "application/octet-stream", headers={"Idempotency-Key": key})
        self.assertEqual(r.status, 202, r)
        self.assertIsNone(r.header("idempotent-replayed"))
        self.assertEqual((self.keys(key), self.count_items()), (1, 1))


class Tokens(ContentCase):
    def safe_item(self):
        up = self.accepted(fx.jpeg(), "a.jpg", "image/jpeg")
        self.assertEqual(self.final(up["id"])["status"], "safe")
        return up["id"]

    def test_a_token_expires(self):
        cid = self.safe_item()
        t = self.token(cid, {"ttl_s": 1})
        self.assertTrue(h.parse_rfc3339(t["expires_at"]))
        time.sleep(2.1)
        h.check_problem(self, self.download(t["url"]), 410, "content.token_expired")

    def test_another_tenants_token_is_404_and_a_forged_one_too(self):
        cid = self.safe_item()
        t = self.token(cid)
        other = h.bootstrap_tenant(S)
        other_admin = h.login_token(S, other)["access_token"]
        h.check_problem(self, self.download(t["url"], token=other_admin), 404, "resource.not_found")
        # the item itself is not found from the other tenant
        h.check_problem(self, self.call("GET", ITEMS + cid, token=other_admin), 404, "resource.not_found")
        forged = t["token"][:-4] + ("AAAA" if not t["token"].endswith("AAAA") else "BBBB")
        h.check_problem(self, self.download("/content/v1/download/" + forged), 404, "resource.not_found")
        self.assertEqual(self.download(t["url"], token=self.admin).status, 200)

    def test_a_one_time_token_is_410_the_second_time(self):
        cid = self.safe_item()
        t = self.token(cid, {"once": True})
        self.assertTrue(t["once"])
        self.assertEqual(self.download(t["url"]).status, 200)
        h.check_problem(self, self.download(t["url"]), 410, "content.token_expired")
        once = self.token(cid, {"once": True})
        r = h.request(S.port, "HEAD", once["url"])  # a link checker's HEAD uses nothing up
        self.assertEqual((r.status, r.body), (200, b""), r)
        self.assertEqual(self.download(once["url"]).status, 200)
        h.check_problem(self, self.download(once["url"]), 410, "content.token_expired")
        again = self.token(cid)  # a plain token may be used again
        self.assertEqual(self.download(again["url"]).status, 200)
        self.assertEqual(self.download(again["url"]).status, 200)

    def test_a_locked_users_token_is_dead(self):
        cid = self.safe_item()
        uid, sales = self.new_user("sales")
        t = self.token(cid, token=sales)
        self.assertEqual(self.download(t["url"]).status, 200)
        self.assertEqual(self.call("POST", USERS + "/" + uid + "/lock").status, 200)
        h.check_problem(self, self.download(t["url"]), 401, REVOKED)

    def test_not_found_and_bad_bodies(self):
        h.check_problem(self, self.call("GET", ITEMS + str(uuid.uuid4())), 404, "resource.not_found")
        h.check_problem(self, self.call("GET", ITEMS + "not-a-uuid"), 404, "resource.not_found")
        h.check_problem(self, self.call("POST", ITEMS + str(uuid.uuid4()) + "/download-tokens"), 404,
                        "resource.not_found")
        cid = self.safe_item()
        r = self.call("POST", ITEMS + cid + "/download-tokens", {"ttl_s": 0, "once": "x", "more": 1})
        h.check_problem(self, r, 422, VALIDATION)
        self.assertEqual({e["field"] for e in r.json()["errors"]}, {"ttl_s", "once", "more"})

    def test_downloads_count_against_the_guards_downloads_budget(self):
        cid = self.safe_item()
        uid, sales = self.new_user("sales")
        r = self.call("POST", "/api/v1/guard/budgets", {"scope": "user:" + uid, "metric": "downloads",
                                                       "window_s": 300, "warn": 2, "block": 3})
        self.assertEqual(r.status, 201, r)
        t = self.token(cid, token=sales)
        for _ in range(3):
            self.assertEqual(self.download(t["url"]).status, 200)
        h.wait_for(lambda: self.download(t["url"]).status != 200, 5, what="the downloads budget to bite")
        h.check_problem(self, self.me(sales), 401, REVOKED)

    def me(self, token):
        return h.me(S, token)


class Attachments(ContentCase):
    def test_only_safe_content_of_the_tenant_can_be_attached_and_attaching_is_audited(self):
        cust = self.call("POST", "/api/v1/customers", {"name": "Acme"}).json()["data"]["id"]
        path = "/api/v1/customers/%s/attachments" % cust
        bad = self.accepted(fx.eicar(), "x.txt", "text/plain")["id"]
        good = self.accepted(fx.jpeg(), "a.jpg", "image/jpeg")["id"]
        self.assertEqual(self.final(bad)["status"], "rejected")
        self.assertEqual(self.final(good)["status"], "safe")
        h.check_problem(self, self.call("POST", path, {"content_id": bad}), 422, "content.rejected")
        h.check_problem(self, self.call("POST", path, {"content_id": str(uuid.uuid4())}), 422, VALIDATION)
        other = h.bootstrap_tenant(S)
        other_admin = h.login_token(S, other)["access_token"]
        foreign = h.request(S.port, "POST", UPLOADS + "?filename=b.jpg",
                            headers={"Authorization": "Bearer " + other_admin, "Content-Type": "image/jpeg"},
                            body=fx.jpeg()).json()["data"]["id"]
        h.check_problem(self, self.call("POST", path, {"content_id": foreign}), 422, VALIDATION)
        self.assertEqual(self.call("GET", path).json()["data"], [])
        r = self.call("POST", path, {"content_id": good})
        self.assertEqual(r.status, 201, r)
        audit = self.call("GET", "/api/v1/audit-logs?entity=attachments").json()["data"]
        self.assertTrue(any(a["entity_id"] == r.json()["data"]["id"] and a["action"] == "create" for a in audit),
                        audit)
        envs = h.wait_bus_envelopes(S.env["NEXTCRM_TEST_REDIS_ADDR"], STREAM, self.tenant.id,
                                    lambda got: any(e["type"] == "crm.customer.attachment_added" for e in got))
        self.assertEqual(sum(e["type"] == "crm.customer.attachment_added" for e in envs), 1)


class Restart(ContentCase):
    """One job at a time on this node (NEXTCRM_CONTENT_JOBS=1), each held 1.5 s
    in `processing`: a flood queues; a job interrupted by a crash of the
    content role resumes after restart."""
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = h.Server(env={"NEXTCRM_BUS_STREAM": STREAM, "NEXTCRM_CONTENT_HOLD_MS": "1500",
                                   "NEXTCRM_CONTENT_LEASE_S": "2", "NEXTCRM_CONTENT_JOBS": "1"})
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start(healthy=True)

    def test_a_flood_of_uploads_queues_and_runs_one_job_at_a_time(self):
        ids = [self.accepted(fx.jpeg(), "q%d.jpg" % i, "image/jpeg")["id"] for i in range(4)]
        most = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [self.item(i)["status"] for i in ids]
            most = max(most, states.count("processing"))
            if all(s == "safe" for s in states):
                break
            self.assertNotIn("rejected", states)
            time.sleep(0.1)
        self.assertEqual([self.item(i)["status"] for i in ids], ["safe"] * 4)
        self.assertEqual(most, 1, "more than one job at once on a node of NEXTCRM_CONTENT_JOBS=1")

    def test_a_job_interrupted_by_a_crash_resumes_after_restart_and_is_not_ready_meanwhile(self):
        srv = self.server
        up = self.accepted(fx.jpeg_with_gps_exif(), "a.jpg", "image/jpeg")
        h.wait_for(lambda: self.item(up["id"])["status"] == "processing", 10, what="processing")
        h.check_problem(self, self.call("POST", ITEMS + up["id"] + "/download-tokens"), 409, "content.not_ready")
        cust = self.call("POST", "/api/v1/customers", {"name": "Acme"}).json()["data"]["id"]
        h.check_problem(self, self.call("POST", "/api/v1/customers/%s/attachments" % cust, {"content_id": up["id"]}),
                        409, "content.not_ready")
        srv.signal(9)
        srv.wait_exit(10)
        srv.start(healthy=True)
        self.admin = h.login_token(srv, self.tenant)["access_token"]  # the old key died with the process
        it = self.final(up["id"], timeout=30)
        self.assertEqual(it["status"], "safe", it)
        r = self.download(self.token(up["id"])["url"])
        self.assertEqual(r.status, 200)
        for marker in fx.GPS_MARKERS:
            self.assertNotIn(marker, r.body)


if __name__ == "__main__":
    h.main()
