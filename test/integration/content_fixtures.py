#!/usr/bin/env python3
"""Fixtures for the upload sanitization tests: hostile and benign file bodies.

Every function returns the fixture as bytes. Only the standard library is
used, plus the Debian command-line tools `vips` (libvips 8.14) and `qpdf`
for the base images and for normalizing PDFs. The outputs are deterministic
(fixed seeds, fixed zip timestamps, qpdf --deterministic-id) and the costly
ones are cached, so calling a function twice is free.

The *_MARKERS constants are byte strings found in the raw fixtures that a
sanitizer must remove (the self-check asserts that they are present here).
Self-check: python3 test/integration/content_fixtures.py
"""

import csv
import functools
import io
import os
import random
import struct
import subprocess
import tempfile
import zipfile
import zlib

# Found in jpeg_with_gps_exif(); webp_with_exif() holds all but the last one
# (a WebP EXIF chunk carries the bare TIFF data, without the "Exif\0\0" tag).
GPS_MARKERS = [b"FixtureCam", b"GPS-1", b"Exif\x00\x00"]
WEBP_EXIF_MARKERS = [b"FixtureCam", b"GPS-1", b"EXIF"]
PDF_ACTIVE_MARKERS = [b"/JavaScript", b"/OpenAction", b"/EmbeddedFile",
                      b"/Launch", b"fixture-embedded-payload", b"app.alert"]
POLYGLOT_MARKERS = [b"PK\x03\x04", b"hidden.txt"]
HTML_MARKERS = [b"<script>", b"fixture-xss"]
PDF_TEXT_DEFAULT = "Fixture text kept"
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"
CSV_ROWS = [
    ["name", "phone", "note"],
    ["Alice", "+33 1 23 45 67 89", '=HYPERLINK("http://evil","x")'],
    ["Bob", "-5", "@SUM(A1:A2)"],
    ["Carol", "+44 20 7946 0958", "+cmd|' /C calc'!A0"],
    ["Dave", "555 0100", "first line, with a comma\nsecond line"],
]

_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


# --- helpers -----------------------------------------------------------------

def _run(args, ok=(0,)):
    """Run a command, raise with its stderr unless its exit code is in ok."""
    proc = subprocess.run(args, capture_output=True)
    if proc.returncode not in ok:
        raise RuntimeError("%s failed (%d): %s" % (
            " ".join(args), proc.returncode,
            proc.stderr.decode(errors="replace").strip()))
    return proc


def _ppm(width, height):
    """A binary PPM (P6) of a colour gradient with a checker pattern."""
    rows = [b"P6 %d %d 255\n" % (width, height)]
    for y in range(height):
        g = y * 255 // max(height - 1, 1)
        rows.append(bytes(v for x in range(width) for v in (
            x * 255 // max(width - 1, 1), g,
            200 if (x // 8 + y // 8) % 2 else 40)))
    return b"".join(rows)


def _vips_save_ppm(width, height, out_name, *save_args):
    """Write the gradient PPM, convert it with `vips copy` and return the file."""
    with tempfile.TemporaryDirectory(prefix="fixture-") as tmp:
        src = os.path.join(tmp, "in.ppm")
        dst = os.path.join(tmp, out_name)
        with open(src, "wb") as f:
            f.write(_ppm(width, height))
        _run(["vips", "copy", src, dst + "[%s]" % ",".join(save_args)])
        with open(dst, "rb") as f:
            return f.read()


def _tiff_ifd(entries, offset, next_ifd=0):
    """One little-endian IFD at offset; entries are (tag, type, count, data)."""
    entries = sorted(entries)
    data_at = offset + 2 + 12 * len(entries) + 4
    head = [struct.pack("<H", len(entries))]
    data = []
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            head.append(struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0"))
        else:
            head.append(struct.pack("<HHII", tag, typ, count, data_at))
            value += b"\0" * (len(value) % 2)
            data.append(value)
            data_at += len(value)
    head.append(struct.pack("<I", next_ifd))
    return b"".join(head + data)


def _exif_tiff():
    """TIFF (Exif) data: IFD0 Make/Model/DateTime and a GPS IFD."""
    ascii_ = lambda s: (2, len(s) + 1, s + b"\0")  # noqa: E731
    rational = lambda pairs: (5, len(pairs), b"".join(  # noqa: E731
        struct.pack("<II", n, d) for n, d in pairs))
    gps = [
        (0x0000, 1, 4, bytes([2, 2, 0, 0])),          # GPSVersionID
        (0x0001,) + ascii_(b"N"),                      # GPSLatitudeRef
        (0x0002,) + rational([(48, 1), (51, 1), (2400, 100)]),
        (0x0003,) + ascii_(b"E"),                      # GPSLongitudeRef
        (0x0004,) + rational([(2, 1), (21, 1), (300, 100)]),
    ]
    ifd0 = lambda gps_at: [  # noqa: E731
        (0x010F,) + ascii_(b"FixtureCam"),             # Make
        (0x0110,) + ascii_(b"GPS-1"),                  # Model
        (0x0132,) + ascii_(b"2024:05:17 10:20:30"),    # DateTime
        (0x8825, 4, 1, struct.pack("<I", gps_at)),     # GPSInfo IFD pointer
    ]
    gps_at = 8 + len(_tiff_ifd(ifd0(0), 8))
    return (b"II*\0" + struct.pack("<I", 8) + _tiff_ifd(ifd0(gps_at), 8)
            + _tiff_ifd(gps, gps_at))


def _pdf_string(text):
    """A PDF literal string (with parentheses) for latin-1 text."""
    raw = text.encode("latin-1", errors="replace")
    for ch in (b"\\", b"(", b")"):
        raw = raw.replace(ch, b"\\" + ch)
    return b"(" + raw + b")"


def _pdf_stream(dictionary, data):
    """A stream object body with the right /Length."""
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (
        dictionary, len(data), data)


def _pdf(objects):
    """A PDF of objects 1..n (object 1 is the catalog), normalized by qpdf."""
    out = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    offsets = []
    pos = len(out[0])
    for num, body in enumerate(objects, 1):
        chunk = b"%d 0 obj\n%s\nendobj\n" % (num, body)
        offsets.append(pos)
        out.append(chunk)
        pos += len(chunk)
    out.append(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.extend(b"%010d 00000 n \n" % off for off in offsets)
    out.append(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
               % (len(objects) + 1, pos))
    with tempfile.TemporaryDirectory(prefix="fixture-") as tmp:
        src, dst = os.path.join(tmp, "in.pdf"), os.path.join(tmp, "out.pdf")
        with open(src, "wb") as f:
            f.write(b"".join(out))
        _run(["qpdf", "--stream-data=uncompress", "--object-streams=disable",
              "--newline-before-endstream", "--deterministic-id", src, dst],
             ok=(0, 3))
        with open(dst, "rb") as f:
            return f.read()


def _png_chunk(kind, data):
    """A PNG chunk with its length and CRC."""
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


# --- images ------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def jpeg(width=64, height=48):
    """A small baseline JPEG without metadata (a gradient made by vips)."""
    return _vips_save_ppm(width, height, "out.jpg", "Q=85", "strip")


@functools.lru_cache(maxsize=None)
def jpeg_2mp():
    """A 1600x1250 (2 MP) JPEG of blurred colour noise, for benchmarks."""
    with tempfile.TemporaryDirectory(prefix="fixture-") as tmp:
        p = lambda name: os.path.join(tmp, name)  # noqa: E731
        for seed, band in enumerate("rgb", 1):
            _run(["vips", "gaussnoise", p(band + ".v"), "1600", "1250",
                  "--sigma", "90", "--seed", str(seed)])
        _run(["vips", "bandjoin", " ".join(p(b + ".v") for b in "rgb"), p("j.v")])
        _run(["vips", "gaussblur", p("j.v"), p("s.v"), "2"])
        _run(["vips", "cast", p("s.v"), p("u.v"), "uchar"])
        _run(["vips", "copy", p("u.v"), p("c.v"), "--interpretation", "srgb"])
        _run(["vips", "jpegsave", p("c.v"), p("out.jpg"), "--Q", "85", "--strip"])
        with open(p("out.jpg"), "rb") as f:
            return f.read()


@functools.lru_cache(maxsize=None)
def jpeg_with_gps_exif():
    """jpeg() with an APP1 Exif segment (Make, Model, DateTime, GPS) after SOI."""
    base = jpeg()
    payload = b"Exif\0\0" + _exif_tiff()
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return base[:2] + app1 + base[2:]


@functools.lru_cache(maxsize=None)
def webp_with_exif(width=64, height=48):
    """An extended WebP (VP8X with the EXIF flag) carrying the GPS Exif data."""
    base = _vips_save_ppm(width, height, "out.webp", "Q=80", "strip")
    assert base[:4] == b"RIFF" and base[8:12] == b"WEBP", "not a WebP"
    image_chunks, pos = [], 12
    while pos + 8 <= len(base):
        kind, size = base[pos:pos + 4], struct.unpack("<I", base[pos + 4:pos + 8])[0]
        if kind in (b"VP8 ", b"VP8L", b"ALPH"):
            image_chunks.append((kind, base[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    flags = 0x08 | (0x10 if any(k == b"ALPH" for k, _ in image_chunks) else 0)
    vp8x = (struct.pack("<I", flags) + (width - 1).to_bytes(3, "little")
            + (height - 1).to_bytes(3, "little"))
    body = b"".join(kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)
                    for kind, data in [(b"VP8X", vp8x)] + image_chunks
                    + [(b"EXIF", _exif_tiff())])
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def png_pixel_bomb(width=50000, height=50000):
    """A PNG whose IHDR declares width x height 8-bit grey but holds 16 rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = (b"\0" + b"\x80" * width) * min(16, height)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(rows, 9)) + _png_chunk(b"IEND", b""))


# --- disguised and hostile files ----------------------------------------------

def html_as_jpg():
    """A small HTML page with a <script> (uploaded as x.jpg, image/jpeg)."""
    return (b"<!DOCTYPE html>\n<html><head><title>not an image</title></head>\n"
            b"<body><p>hello</p><script>alert('fixture-xss')</script></body></html>\n")


@functools.lru_cache(maxsize=None)
def jpeg_zip_polyglot():
    """jpeg() followed by a complete zip holding hidden.txt."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("hidden.txt", _ZIP_DATE), b"polyglot-zip-member")
    return jpeg() + buf.getvalue()


def eicar():
    """The 68-byte EICAR antivirus test file, assembled at runtime."""
    head = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-"
    tail = "ANTIVIRUS-TEST-FILE!$H+H*"
    return (head + tail).encode("ascii")


@functools.lru_cache(maxsize=None)
def zip_bomb(size=200 * 1024 * 1024):
    """A zip whose single member inflates to size bytes of zeros (~1000:1)."""
    chunk = bytes(1 << 20)
    buf = io.BytesIO()
    info = zipfile.ZipInfo("zeros.bin", _ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(info, "w", force_zip64=True) as member:
            left = size
            while left > 0:
                member.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def nested_zip_bomb(copies=10):
    """A zip of copies of zip_bomb() (copies x 200 MB once fully expanded)."""
    inner = zip_bomb()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for i in range(copies):
            zf.writestr(zipfile.ZipInfo("bomb%02d.zip" % i, _ZIP_DATE), inner,
                        compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def big_bytes(n):
    """n bytes of a repeated 64 KiB pseudo-random block (one allocation)."""
    block = random.Random(20240517).randbytes(1 << 16)
    q, r = divmod(n, len(block))
    return b"".join([block] * q + [block[:r]])


def csv_with_formulas():
    """CSV_ROWS as CRLF CSV: formula-looking cells and a quoted multi-line cell."""
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(CSV_ROWS)
    return out.getvalue().encode("utf-8")


# --- PDF -----------------------------------------------------------------------

def pdf_with_js_and_attachment(text=PDF_TEXT_DEFAULT):
    """A one-page PDF showing text, with OpenAction JS, a Launch link and an attachment."""
    content = b"BT /F1 24 Tf 72 700 Td %s Tj ET" % _pdf_string(text)
    payload = b"fixture-embedded-payload"
    return _pdf([
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R /Names 7 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R /Annots [10 0 R] >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        _pdf_stream(b"", content),
        b"<< /Type /Action /S /JavaScript /JS (app.alert\\('fixture-js'\\)) >>",
        b"<< /JavaScript 8 0 R /EmbeddedFiles 9 0 R >>",
        b"<< /Names [(fixture-js) 6 0 R] >>",
        b"<< /Names [(payload.txt) 11 0 R] >>",
        b"<< /Type /Annot /Subtype /Link /Rect [72 600 300 620] /Border [0 0 0]"
        b" /A << /Type /Action /S /Launch /F (calc.exe) >> >>",
        b"<< /Type /Filespec /F (payload.txt) /UF (payload.txt) /EF << /F 12 0 R >> >>",
        _pdf_stream(b"/Type /EmbeddedFile /Subtype /text#2Fplain"
                    b" /Params << /Size %d >>" % len(payload), payload),
    ])


@functools.lru_cache(maxsize=None)
def pdf_pages(n=10):
    """A plain n-page PDF, one line of Helvetica text per page (benchmarks)."""
    # Objects: 1 catalog, 2 pages, 3 font, then page i at 4+2i, content at 5+2i.
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i in range(n):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
                       b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
                       % (5 + 2 * i))
        objects.append(_pdf_stream(b"", b"BT /F1 18 Tf 72 720 Td %s Tj ET"
                                   % _pdf_string("Benchmark page %d of %d" % (i + 1, n))))
    return _pdf(objects)


# --- self-check ----------------------------------------------------------------

def _self_check():
    """Build every fixture, check it with vipsheader / qpdf, print the sizes."""
    import hashlib
    import time

    def write(tmp, name, data):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def header(path, *flags):
        return _run(["vipsheader", *flags, path]).stdout.decode()

    fixtures = {}
    with tempfile.TemporaryDirectory(prefix="fixture-check-") as tmp:
        for name, fn, ext in [
                ("jpeg", jpeg, "jpg"), ("jpeg_2mp", jpeg_2mp, "jpg"),
                ("jpeg_with_gps_exif", jpeg_with_gps_exif, "jpg"),
                ("webp_with_exif", webp_with_exif, "webp"),
                ("png_pixel_bomb", png_pixel_bomb, "png"),
                ("html_as_jpg", html_as_jpg, "jpg"),
                ("jpeg_zip_polyglot", jpeg_zip_polyglot, "jpg"),
                ("eicar", eicar, "com"), ("zip_bomb", zip_bomb, "zip"),
                ("nested_zip_bomb", nested_zip_bomb, "zip"),
                ("big_bytes(10 MiB + 7)", lambda: big_bytes((10 << 20) + 7), "bin"),
                ("csv_with_formulas", csv_with_formulas, "csv"),
                ("pdf_with_js_and_attachment", pdf_with_js_and_attachment, "pdf"),
                ("pdf_pages", pdf_pages, "pdf")]:
            start = time.monotonic()
            data = fn()
            took = time.monotonic() - start
            assert isinstance(data, bytes), name
            assert took < 2.0, "%s took %.2f s" % (name, took)
            fixtures[name] = (data, write(tmp, name.split("(")[0] + "." + ext, data))
            print("%-28s %10d bytes  %5.2f s" % (name, len(data), took))

        path = lambda name: fixtures[name][1]  # noqa: E731
        raw = lambda name: fixtures[name][0]  # noqa: E731
        for name, size in [("jpeg", "64x48"), ("jpeg_2mp", "1600x1250"),
                           ("jpeg_with_gps_exif", "64x48"), ("webp_with_exif", "64x48"),
                           ("jpeg_zip_polyglot", "64x48"),
                           ("png_pixel_bomb", "50000x50000")]:
            out = header(path(name))
            print("vipsheader:", out.strip())
            assert size in out, (name, out)
        assert "exif-data" not in header(path("jpeg"), "-a")
        out = header(path("jpeg_with_gps_exif"), "-a")
        assert "FixtureCam" in out and "GPSLatitude" in out, out
        assert "48/1 51/1 2400/100" in out or "48, 51, 24" in out, out
        out = header(path("webp_with_exif"), "-a")
        assert "exif-data" in out and "FixtureCam" in out, out
        assert raw("webp_with_exif")[12:16] == b"VP8X" and raw("webp_with_exif")[20] & 0x08
        assert _run(["vipsheader", path("html_as_jpg")], ok=(1,)).returncode == 1
        for name in ("pdf_with_js_and_attachment", "pdf_pages"):
            out = _run(["qpdf", "--check", path(name)]).stdout.decode()
            assert "No syntax or stream encoding errors" in out, out
            print("qpdf --check %s: ok" % name)
        pages = _run(["qpdf", "--show-npages", path("pdf_pages")]).stdout.strip()
        assert pages == b"10", pages

        for name, markers in [("jpeg_with_gps_exif", GPS_MARKERS),
                              ("webp_with_exif", WEBP_EXIF_MARKERS),
                              ("pdf_with_js_and_attachment", PDF_ACTIVE_MARKERS),
                              ("jpeg_zip_polyglot", POLYGLOT_MARKERS),
                              ("html_as_jpg", HTML_MARKERS)]:
            missing = [m for m in markers if m not in raw(name)]
            assert not missing, (name, missing)
        for name in ("jpeg", "jpeg_2mp"):
            assert not any(m in raw(name) for m in GPS_MARKERS), name
        assert PDF_TEXT_DEFAULT.encode() in raw("pdf_with_js_and_attachment")
        assert raw("jpeg_zip_polyglot").startswith(jpeg())
        with zipfile.ZipFile(io.BytesIO(raw("jpeg_zip_polyglot"))) as zf:
            assert zf.read("hidden.txt") == b"polyglot-zip-member"
        assert len(raw("eicar")) == 68
        assert hashlib.md5(raw("eicar")).hexdigest() == EICAR_MD5
        with zipfile.ZipFile(io.BytesIO(raw("zip_bomb"))) as zf:
            (member,) = zf.infolist()
            ratio = member.file_size / len(raw("zip_bomb"))
            print("zip_bomb: %s inflates to %d bytes, ratio %.0f:1"
                  % (member.filename, member.file_size, ratio))
            assert member.file_size == 200 << 20 and ratio > 1000
        with zipfile.ZipFile(io.BytesIO(raw("nested_zip_bomb"))) as zf:
            assert len(zf.infolist()) == 10
            assert zf.read("bomb00.zip") == raw("zip_bomb")
        assert len(raw("big_bytes(10 MiB + 7)")) == (10 << 20) + 7
        rows = list(csv.reader(io.StringIO(raw("csv_with_formulas").decode(), newline="")))
        assert rows == CSV_ROWS and b"\r\n" in raw("csv_with_formulas"), rows
        assert jpeg_with_gps_exif() == jpeg_with_gps_exif.__wrapped__()
        assert pdf_with_js_and_attachment() == pdf_with_js_and_attachment()
        assert jpeg_2mp.__wrapped__() == jpeg_2mp()
    print("content_fixtures self-check: OK")



def office_docx(text="Fixture office text"):
    """A minimal Word document (OOXML: [Content_Types].xml first, as Word
    writes it, so libmagic knows it for what it is)."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                                  'package/2006/relationships"/>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.'
                                        'org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>%s</w:t></w:r>'
                                        '</w:p></w:body></w:document>' % text)
    return b.getvalue()

if __name__ == "__main__":
    _self_check()
