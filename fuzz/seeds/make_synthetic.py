#!/usr/bin/env python3
"""Writes the synthetic seeds of fuzz/seeds/ (the others are copies of small files from
../shared/corpus, named after them). Run from fuzz/seeds: python3 make_synthetic.py"""
import hashlib, json, os, struct

def put(target, name, data):
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, name), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def field(b): return struct.pack('<I', len(b)) + b

def record(template, data, violation=False):
    th = bytes(20) if violation else hashlib.sha1(data).digest()
    return struct.pack('<I', 10) + th + field(template.encode()) + field(data)

def ng(path, content, algo='sha256'):
    return field(algo.encode() + b':\0' + hashlib.new(algo, content).digest()) + field(path + b'\0')

# Kernel-format binary lists: every template, a violation, a non-UTF-8 name.
boot = record('ima-ng', ng(b'boot_aggregate', b'pcrs'))
lst = boot + record('ima-ng', ng(b'/usr/bin/true', b'a')) \
    + record('ima-sig', ng(b'/usr/bin/env', b'b') + field(b'\x03\x02' + bytes(8))) \
    + record('ima-buf', ng(b'.ima', b'key') + field(b'key')) \
    + record('ima', hashlib.sha1(b'c').digest() + field(b'/bin/sh')) \
    + record('ima-ng', ng(b'/bin/\xff', b'd', 'sha1')) \
    + record('ima-ng', field(b'sha256:\0' + bytes(32)) + field(b'/tmp/gone\0'), violation=True)
put('binary_log', 'all-templates.bin', lst)
put('binary_log', 'one-entry.bin', boot)
# The typed research layout: u32 size | digest before the name.
put('binary_log', 'typed.bin', struct.pack('<I', 10) + struct.pack('<I', 32) + hashlib.sha256(b'x').digest()
    + field(b'ima-ng') + field(ng(b'/bin/x', b'x')))

put('ascii_log', 'non-utf8.ascii', b'10 %s ima-ng sha256:%s /bin/\xff\n' % (
    hashlib.sha1(ng(b'/bin/\xff', b'd')).hexdigest().encode(), hashlib.sha256(b'd').hexdigest().encode()))
put('ascii_log', 'pcrs.sha256', 'PCR-10: ' + '00' * 32 + '\nPCR-11: ' + 'ab' * 32 + '\n')

put('runtime_policy', 'policy.json', json.dumps({
    'meta': {'version': 1, 'generator': 'eima'},
    'digests': {'/usr/bin/true': ['sha256:' + '00' * 32], os.fsdecode(b'/bin/\xff'): ['ab' * 20]},
    'excludes': ['/tmp/.*'], 'exclude_globs': ['/var/*'], 'keyrings': {'.ima': ['sha256:' + '11' * 32]},
    'ima_buf': {}, 'ignored_keyrings': ['*']}, indent=1))
put('runtime_policy', 'digest', 'sha384:' + '12' * 48)

quote_attest = (struct.pack('>IH', 0xff544347, 0x8018) + struct.pack('>H', 0)
                + struct.pack('>H', 8) + b'\x11' * 8 + struct.pack('>QIIB', 1, 2, 3, 1) + struct.pack('>Q', 4)
                + struct.pack('>IHB', 1, 0x000b, 3) + b'\x00\x04\x00' + struct.pack('>H', 32) + bytes(32))
quote_sig = struct.pack('>HH', 0x0018, 0x000b) + struct.pack('>H', 32) + b'\x01' * 32 + struct.pack('>H', 32) + b'\x02' * 32
put('quote', 'ecdsa-quote', struct.pack('<HHB', len(quote_attest), len(quote_sig), 2) + quote_attest + quote_sig + boot
    + record('ima-ng', ng(b'/usr/bin/true', b'a')))
rsa_sig = struct.pack('>HH', 0x0014, 0x000b) + struct.pack('>H', 256) + b'\x05' * 256
put('quote', 'rsassa-quote', struct.pack('<HHB', len(quote_attest), len(rsa_sig), 1) + quote_attest + rsa_sig + boot)

import base64
host = {'format': 'eima-evidence', 'version': 1, 'source': 'host', 'run_dir': '/run/eima', 'hostname': 'h',
        'nonce': '11' * 8, 'quote': {'attest': quote_attest.hex(), 'signature': quote_sig.hex(), 'bank': 'sha256',
                                     'pcrs': {'10': '00' * 32}},
        'ak': {'pem': '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n', 'public': '0001'},
        'list': {'format': 'binary', 'encoding': 'base64', 'entries': 1, 'data': base64.b64encode(boot).decode()}}
put('evidence', 'host.json', json.dumps(host, indent=1))
cont = dict(host, source='container', container=os.fsdecode(b'c\xff'), host=host,
            list={'format': 'binary', 'entries': 1, 'file': '/run/eima/host/binary_runtime_measurements'})
put('evidence', 'container.json', json.dumps(cont))
put('evidence', 'vtpm-binding', json.dumps({'format': 'eima-vtpm-binding', 'version': 1, 'container': 'abc',
                                            'ek': 'PEM', 'ak': 'PEM', 'mntns': 4026531840}))

for i, msg in enumerate([{'cmd': 'status'}, {'cmd': 'ps'}, {'cmd': 'quote', 'nonce': '00ff', 'pcrs': [10, 11]},
                         {'cmd': 'pcrs', 'container': os.fsdecode(b'c\xff'), 'bank': 'sha256'}]):
    put('control', 'msg%d' % i, json.dumps(msg) + '\n')
put('control', 'two-lines', '{"cmd":"status"}\n{"cmd":"ps"}\n')

put('json_text', 'escapes.json', r'{"a\udcff": ["\ud83d\udcff", "\\udcff", "\u0000", 1.5e3, -0, true, null]}')
put('json_text', 'pua.json', '["\ue000\udc80", "\uf8ff"]'.encode('utf-8', 'surrogatepass').replace(b'\xed\xb2\x80', b'\\udc80'))
put('json_text', 'bytes', b'/bin/\xff\xc0\xaf\xed\xa0\x80')
