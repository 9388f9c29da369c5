#!/usr/bin/env python3
"""Writes the seeds of the sbom target (fuzz/seeds/sbom/): the SBOMs of ../shared/corpus,
trimmed so that each stays a valid document of a few KiB (the first entries of each long
list, the first lines of a tag-value file), and a few synthetic ones for what the corpus
lacks (paths that are not UTF-8, placeholder and malformed digests, nested CycloneDX file
components, a byte order mark, an unclosed <text>).
Run from the repository: python3 fuzz/seeds/make_sbom.py [CORPUS_DIR]"""
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '../../../shared/corpus')
out = os.path.join(here, 'sbom')
os.makedirs(out, exist_ok=True)

def put(name, data):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def keep(entries, n):
    """The first n entries, and the first n that are files (CycloneDX type "file")."""
    files = [e for e in entries if isinstance(e, dict) and e.get('type') == 'file']
    first = entries[:n]
    return first + [e for e in files[:n] if e not in first]

def trim_json(doc, n=4):
    for key in ('files', 'packages', 'relationships', 'dependencies', 'documentDescribes'):
        if isinstance(doc.get(key), list):
            doc[key] = doc[key][:n]
    if isinstance(doc.get('components'), list):
        doc['components'] = keep(doc['components'], n)
        for c in doc['components']:
            if isinstance(c.get('components'), list):
                c['components'] = keep(c['components'], 2)
    return doc

for sub in ('spdx', 'cyclonedx'):
    d = os.path.join(corpus, sub)
    for name in sorted(os.listdir(d)):
        if name == 'SOURCES.md':
            continue
        raw = open(os.path.join(d, name), 'rb').read()
        if raw.lstrip()[:1] == b'{':
            doc = trim_json(json.loads(raw))
            put(name, json.dumps(doc, indent=1, ensure_ascii=False) + '\n')
        else:
            # Tag-value: the document header and the first entries, cut before a
            # FileName or PackageName so that no <text> block is left open.
            lines = raw.split(b'\n')
            cut = len(lines)
            for i, l in enumerate(lines):
                if i > 60 and (l.startswith(b'FileName:') or l.startswith(b'PackageName:')):
                    cut = i
                    break
            put(name, b'\n'.join(lines[:cut]) + b'\n')

# Synthetic: what the corpus does not show.
put('tag-value-bytes.spdx',
    b'SPDXVersion: SPDX-2.3\nDocumentName: bytes\n# comment\n'
    b'PackageName: p\nPackageComment: <text>two\nlines</text>\n'
    b'FileName: ./usr/bin/\xff\xfe\n'
    b'FileChecksum: SHA1: 85ed0817af83a24ad8da68c2b5094de69833983c\n'
    b'FileChecksum: SHA256: 0000000000000000000000000000000000000000000000000000000000000000\n'
    b'FileChecksum: MD5: nothex\n'
    b'FileName: /etc//./x\r\nFileChecksum: BLAKE3: ' + b'ab' * 32 + b'\n'
    b'SnippetSPDXID: SPDXRef-s\nFileName: no-digest\nLicenseID: LicenseRef-x\n')
put('tag-value-open-text.spdx', 'SPDXVersion: SPDX-2.2\nFileComment: <text>never closed\n')
put('bom-spdx.json', b'\xef\xbb\xbf ' + json.dumps({
    'spdxVersion': 'SPDX-2.3', 'name': 'bom',
    'files': [{'fileName': './a', 'checksums': [
        {'algorithm': 'SHA256', 'checksumValue': 'AB' * 32},
        {'algorithm': 'SHA256', 'checksumValue': 'cd' * 32},
        {'algorithm': 'SHA1', 'checksumValue': '0' * 40},
        {'algorithm': 'SHA-512', 'checksumValue': 'ab'},
        {'algorithm': 'X-UNKNOWN', 'checksumValue': 'abcdef'}]},
        {'fileName': 'b\u00ff\\n'}],
    'packages': [{'name': 'p'}]}).encode() + b'\n')
put('cyclonedx-nested-files.json', json.dumps({
    'bomFormat': 'CycloneDX', 'specVersion': '1.6',
    'metadata': {'component': {'name': 'image', 'type': 'container'}},
    'components': [{'type': 'library', 'name': 'lib', 'components': [
        {'type': 'file', 'name': '/usr/lib/x.so', 'hashes': [
            {'alg': 'SHA-256', 'content': 'ef' * 32}, {'alg': 'SHA3-256', 'content': '0' * 64}]},
        {'type': 'file', 'name': '/usr/lib/y.so'}]},
        {'type': 'file', 'name': 'etc/z', 'hashes': [{'alg': 'BLAKE2b-256', 'content': '12' * 32}]}]},
    indent=1) + '\n')
