#!/usr/bin/env python3
"""Independent reference for tests/cli/log_verify_test.sh (shares no code with eima).

  replay FILE            -> JSON {"sha1": {pcr: hex}, "sha256": {...}} computed here
  pcrfile JSON BANK OUT  -> evmctl PCR file "PCR-NN: HEX" from a replay JSON bank
  tamper MODE IN OUT     -> a binary list with one change (see MODES)

Binary records: u32 pcr | header digest (20 bytes, or u32 size | digest in the typed
research format) | u32 name_len | name | u32 data_len | data. Template hash of bank B is
B(data); a violation (all-zero header digest) extends 0xff..; PCR = B(PCR || hash).
For ascii lists the sha1 bank uses the header digest column (it is SHA-1 of the data for a
kernel list); the sha256 bank is recomputed from ima-ng/ima-sig/ima-buf fields only.
"""
import hashlib, json, struct, sys

def records(b):
    off, out = 0, []
    typed = None
    while off < len(b):
        start = off
        pcr = struct.unpack_from('<I', b, off)[0]; off += 4
        if typed is None:  # the kernel's layout unless its name length is implausible
            nlen = struct.unpack_from('<I', b, off + 20)[0]
            typed = not (1 <= nlen <= 255 and b[off + 24:off + 24 + nlen].isascii())
        if typed:
            size = struct.unpack_from('<I', b, off)[0]; off += 4
        else:
            size = 20
        hdr_off = off; hdr = b[off:off + size]; off += size
        nlen = struct.unpack_from('<I', b, off)[0]; off += 4
        name = b[off:off + nlen]; off += nlen
        dlen = struct.unpack_from('<I', b, off)[0]; off += 4
        data = b[off:off + dlen]; off += dlen
        out.append(dict(raw=b[start:off], pcr=pcr, hdr=hdr, hdr_off=hdr_off - start, name=name,
                        data=data, data_off=off - dlen - start))
    return out, typed

def extend(state, bank, pcr, h):
    size = hashlib.new(bank).digest_size
    cur = state.setdefault(pcr, bytes(size))
    state[pcr] = hashlib.new(bank, cur + h).digest()

def replay_binary(b):
    recs, _ = records(b)
    banks = {'sha1': {}, 'sha256': {}}
    for r in recs:
        for bank, st in banks.items():
            viol = r['hdr'] == bytes(len(r['hdr']))
            h = b'\xff' * hashlib.new(bank).digest_size if viol else hashlib.new(bank, r['data']).digest()
            extend(st, bank, r['pcr'], h)
    return banks

def field(s):
    if ':' in s and s.split(':', 1)[0] in hashlib.algorithms_available | {'sm3_256'}:
        a, h = s.split(':', 1)
        return a.encode() + b':\0' + bytes.fromhex(h)
    return None

def replay_ascii(text):
    banks = {'sha1': {}, 'sha256': {}}
    for line in text.splitlines():
        parts = line.split(' ')
        parts = [p for p in parts[:3] if p != ''] + parts[3:] if line.startswith(' ') else parts
        pcr, hdr, tmpl = int(parts[0]), parts[1], parts[2]
        viol = set(hdr.split(':')[-1]) == {'0'}
        if len(hdr) == 40:
            extend(banks['sha1'], 'sha1', pcr, b'\xff' * 20 if viol else bytes.fromhex(hdr))
        else:
            banks.pop('sha1', None)
        if 'sha256' not in banks:
            continue
        if viol:
            extend(banks['sha256'], 'sha256', pcr, b'\xff' * 32)
        elif tmpl in ('ima-ng', 'ima-sig', 'ima-buf'):
            d = field(parts[3]); name = ' '.join(parts[4:]) if tmpl == 'ima-ng' else parts[4]
            fields = [d, name.encode() + b'\0']
            if tmpl != 'ima-ng':
                fields.append(bytes.fromhex(parts[5]) if len(parts) > 5 else b'')
            data = b''.join(struct.pack('<I', len(f)) + f for f in fields)
            extend(banks['sha256'], 'sha256', pcr, hashlib.sha256(data).digest())
        else:
            banks.pop('sha256')
    return banks

def main():
    cmd = sys.argv[1]
    if cmd == 'replay':
        b = open(sys.argv[2], 'rb').read()
        banks = replay_ascii(b.decode()) if b[:1].isdigit() or b[:1] == b' ' else replay_binary(b)
        print(json.dumps({k: {str(p): v.hex() for p, v in st.items()} for k, st in banks.items()}))
    elif cmd == 'pcrfile':
        bank = json.load(open(sys.argv[2]))['replay'][sys.argv[3]]
        size = hashlib.new(sys.argv[3]).digest_size
        with open(sys.argv[4], 'w') as f:
            for i in range(24):
                f.write('PCR-%02d: %s\n' % (i, bank.get(str(i), '00' * size)))
    elif cmd == 'tamper':
        mode, src, dst = sys.argv[2:5]
        b = open(src, 'rb').read()
        recs, _ = records(b)
        raw = [bytearray(r['raw']) for r in recs]
        k = 5
        if mode == 'flip_path':      # a byte of the path (n-ng, before its NUL)
            raw[k][len(raw[k]) - 2] ^= 0x01
        elif mode == 'flip_digest':  # a byte of the header digest
            raw[k][recs[k]['hdr_off'] + 3] ^= 0x80
        elif mode == 'flip_file_digest':  # a byte of the d-ng field's digest
            raw[k][recs[k]['data_off'] + recs[k]['data'].index(b':\0') + 4] ^= 0x01
        elif mode == 'drop':
            del raw[k]
        elif mode == 'insert':
            raw.insert(k, bytearray(raw[3]))
        elif mode == 'swap':
            raw[k], raw[k + 1] = raw[k + 1], raw[k]
        elif mode == 'append':
            raw.append(bytearray(raw[3]))
        elif mode == 'pcr':
            raw[k][0:4] = struct.pack('<I', 11)
        elif mode == 'truncate':
            raw[-1] = raw[-1][:len(raw[-1]) // 2]
        else:
            sys.exit('unknown mode ' + mode)
        open(dst, 'wb').write(b''.join(raw))

main()
