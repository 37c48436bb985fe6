#!/usr/bin/python3
"""Independent XVA tool for Berth's tests: Python's tarfile + the xxhash package, no Berth code.

  check <xva>                 list members, verify every checksum member, rebuild each disk by
                              xapi's position rules; print JSON (members, header fields, disk sha256)
  build <spec.json> <out>     write an XVA the way xapi lays it out (zero chunks left out except
                              first and last, .xxhash or .checksum members, export_vsn < 2 trailing
                              checksum table) with tarfile in the format the spec asks for
  raw <spec.json> <out>       write exactly the members listed in the spec (hostile archives)
"""
import hashlib
import json
import sys
import tarfile

import xxhash

CHUNK = 1024 * 1024


def xxh(data):
    return xxhash.xxh64(data, seed=0).hexdigest().upper()


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def check(path):
    members = []
    sums_ok = True
    bad = []
    disks = {}
    last_data = None
    with open(path, "rb") as f:
        raw = f.read()
    with tarfile.open(path, "r:*") as t:
        for m in t:
            data = t.extractfile(m).read() if m.isfile() else b""
            hdr = raw[m.offset:m.offset + 512] if not path.endswith((".gz", ".zst")) else b""
            members.append({
                "name": m.name, "size": m.size, "mode": m.mode, "uid": m.uid, "gid": m.gid,
                "mtime": m.mtime, "type": m.type.decode("latin1"),
                "magic": hdr[257:263].decode("latin1") if hdr else None,
                "uname": m.uname, "gname": m.gname,
            })
            name = m.name
            if name == "ova.xml":
                continue
            if name.endswith(".xxhash") or name.endswith(".checksum"):
                want = xxh(last_data[1]) if name.endswith(".xxhash") else sha1(last_data[1])
                if name.rsplit(".", 1)[0] != last_data[0] or data.decode() != want:
                    sums_ok = False
                    bad.append(name)
                continue
            ref, counter = name.split("/")
            d = disks.setdefault(ref, {"pos": 0, "last": -1, "first": None, "parts": []})
            n = int(counter)
            if d["first"] is None:
                d["first"] = len(data)
            d["pos"] += (n - d["last"] - 1) * d["first"]
            d["parts"].append((d["pos"], data))
            d["pos"] += len(data)
            d["last"] = n
            last_data = (name, data)
    out = {}
    for ref, d in disks.items():
        size = d["pos"]
        buf = bytearray(size)
        for off, data in d["parts"]:
            buf[off:off + len(data)] = data
        out[ref] = {"size": size, "sha256": hashlib.sha256(bytes(buf)).hexdigest()}
    print(json.dumps({"members": members, "checksums_ok": sums_ok, "bad": bad, "disks": out}))


def add(t, name, data, fmt_mtime=0):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = fmt_mtime
    import io
    t.addfile(info, io.BytesIO(data))


def build(spec_path, out):
    spec = json.load(open(spec_path))
    fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}[spec.get("format", "pax")]
    vsn = spec["export_vsn"]
    kind = spec.get("checksum", "xxhash")
    table = {}
    with tarfile.open(out, "w", format=fmt) as t:
        add(t, "ova.xml", open(spec["ova_xml"], "rb").read())
        for disk in sorted(spec["disks"], key=lambda d: d["ref"]):
            data = open(disk["file"], "rb").read()
            size = len(data)
            nchunks = (size + CHUNK - 1) // CHUNK
            for i in range(nchunks):
                chunk = data[i * CHUNK:(i + 1) * CHUNK]
                if i not in (0, nchunks - 1) and chunk.count(0) == len(chunk):
                    continue
                name = "%s/%08d" % (disk["ref"], i)
                add(t, name, chunk)
                s = xxh(chunk) if kind == "xxhash" else sha1(chunk)
                table[name] = sha1(chunk) if vsn == 0 else s
                if vsn >= 1:
                    add(t, name + (".xxhash" if kind == "xxhash" else ".checksum"), s.encode())
        if vsn < 2:
            xml = "<value><struct>" + "".join(
                "<member><name>%s</name><value>%s</value></member>" % (k, v) for k, v in table.items()
            ) + "</struct></value>"
            add(t, "checksum.xml", xml.encode())


def raw(spec_path, out):
    spec = json.load(open(spec_path))
    fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}[spec.get("format", "ustar")]
    with tarfile.open(out, "w", format=fmt) as t:
        for m in spec["members"]:
            if "file" in m:
                data = open(m["file"], "rb").read()
            elif "text" in m:
                data = m["text"].encode()
            else:
                data = bytes(m.get("zeros", 0))
            if m.get("xxhash_of"):
                data = xxh(open(m["xxhash_of"], "rb").read()).encode()
            add(t, m["name"], data)


if __name__ == "__main__":
    {"check": check, "build": build, "raw": raw}[sys.argv[1]](*sys.argv[2:])
