#!/usr/bin/python3
# Builds an XVA as xapi writes one (tools nobody here wrote: tarfile + xxhash), from a JSON spec:
#   {"ova": path, "out": path, "compression": "none|gzip|zstd",
#    "disks": [{"id": "Ref:3", "size": n, "data": path-or-null}], "mutate": "" | name}
# Layout (xe-http-xva-rrd.md §5): ova.xml first; per disk (ids in lexicographic order) 1 MiB
# chunks <id>/NNNNNNNN each followed by <id>/NNNNNNNN.xxhash (XXH64, 16 uppercase hex: %016LX); all-zero chunks are
# left out except the first and the last. `mutate` makes one of the hostile archives.
import io, json, subprocess, sys, tarfile, xxhash

MiB = 1 << 20
spec = json.load(open(sys.argv[1]))
mutate = spec.get('mutate', '')
def gen():
    yield ('ova.xml', open(spec['ova'], 'rb').read())
    for d in sorted(spec['disks'], key=lambda d: d['id']):
        size, f = d['size'], (open(d['data'], 'rb') if d.get('data') else None)
        n = (size + MiB - 1) // MiB
        for i in range(n):
            length = min(MiB, size - i * MiB)
            data = f.read(length) if f else bytes(length)
            if len(data) < length: data += bytes(length - len(data))
            if i not in (0, n - 1) and data.count(0) == len(data):
                continue
            name = '%s/%08d' % (d['id'], i)
            yield (name, data)
            yield (name + '.xxhash', xxhash.xxh64(data).hexdigest().upper().encode())
        if mutate == 'bomb':
            # Zero chunks far past the virtual size: tiny compressed, huge expanded.
            for i in range(n + 10, n + 200):
                name = '%s/%08d' % (d['id'], i)
                yield (name, bytes(MiB))
                yield (name + '.xxhash', xxhash.xxh64(bytes(MiB)).hexdigest().upper().encode())

members = list(gen()) if mutate not in ('', 'truncate', 'bomb') else gen()
first_chunk = 1
if mutate == 'bad_checksum':
    members[first_chunk + 1] = (members[first_chunk + 1][0], b'0123456789abcdef')
elif mutate == 'ova_not_first':
    members[0], members[1] = members[1], members[0]
elif mutate == 'out_of_order':
    # the second data chunk (+ its hash) before the first
    members[1:3], members[3:5] = members[3:5], members[1:3]
elif mutate == 'dotdot':
    members[first_chunk] = ('../' + members[first_chunk][0], members[first_chunk][1])
elif mutate == 'absolute':
    members[first_chunk] = ('/etc/' + members[first_chunk][0], members[first_chunk][1])
elif mutate == 'big_chunk':
    data = members[first_chunk][1] + bytes(MiB)
    members[first_chunk] = (members[first_chunk][0], data)
    members[first_chunk + 1] = (members[first_chunk + 1][0], xxhash.xxh64(data).hexdigest().upper().encode())
elif mutate == 'legacy':
    members = [('Disk0/chunk-000000000.gz', b'x' * 10), ('ova.xml', b'<appliance/>')]

comp = spec.get('compression', 'none')
target = open(spec['out'], 'wb')
proc = None
if comp == 'gzip':
    import gzip
    sink = gzip.GzipFile(fileobj=target, mode='wb', compresslevel=1)
elif comp == 'zstd':
    proc = subprocess.Popen(['zstd', '-q', '-c', '-T0'], stdin=subprocess.PIPE, stdout=target)
    sink = proc.stdin
else:
    sink = target
with tarfile.open(fileobj=sink, mode='w|', format=tarfile.USTAR_FORMAT, bufsize=MiB) as tar:
    for name, data in members:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
sink.close()
if proc and proc.wait() != 0: sys.exit('zstd failed')
target.close()
if mutate == 'truncate':
    import os
    os.truncate(spec['out'], os.path.getsize(spec['out']) * 2 // 3)
