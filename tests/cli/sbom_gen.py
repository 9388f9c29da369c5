#!/usr/bin/env python3
"""Writes a synthetic SBOM of about SIZE_MB megabytes for the memory test:
sbom_gen.py spdx-json|cyclonedx|tag-value SIZE_MB OUT. Streams as it writes (the generator
must not be the memory hog). Every file has a real SHA-256 and every 10th an all-zero SHA-1
placeholder, so the expected counts follow from the number of files, printed on stdout."""
import hashlib
import sys

kind, size_mb, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
target = size_mb * 1024 * 1024
n = 0
written = 0
with open(out, "w") as f:
    def w(s):
        global written
        f.write(s)
        written += len(s)
    if kind == "spdx-json":
        w('{"spdxVersion": "SPDX-2.3", "name": "generated", "files": [')
    elif kind == "cyclonedx":
        w('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [')
    else:
        w("SPDXVersion: SPDX-2.3\nDocumentName: generated\nPackageName: p\n")
    while written < target:
        path = f"/usr/lib/generated/pkg{n // 1000}/file-{n}.so"
        digest = hashlib.sha256(path.encode()).hexdigest()
        zero = n % 10 == 0
        if kind == "spdx-json":
            sums = [f'{{"algorithm": "SHA256", "checksumValue": "{digest}"}}']
            if zero:
                sums.append('{"algorithm": "SHA1", "checksumValue": "' + "0" * 40 + '"}')
            w(("," if n else "") + f'\n {{"fileName": "{path}", "SPDXID": "SPDXRef-{n}", '
              f'"checksums": [{", ".join(sums)}]}}')
        elif kind == "cyclonedx":
            # Each package nests its files one level down, as syft does for a package's files.
            hashes = [f'{{"alg": "SHA-256", "content": "{digest}"}}']
            if zero:
                hashes.append('{"alg": "SHA-1", "content": "' + "0" * 40 + '"}')
            w(("," if n else "") + f'\n {{"type": "library", "name": "pkg{n}", "components": '
              f'[{{"type": "file", "name": "{path}", "hashes": [{", ".join(hashes)}]}}]}}')
        else:
            w(f"\nFileName: .{path}\nSPDXID: SPDXRef-{n}\nFileChecksum: SHA256: {digest}\n")
            if zero:
                w("FileChecksum: SHA1: " + "0" * 40 + "\n")
            w("FileComment: <text>generated\nover two lines</text>\n")
        n += 1
    if kind != "tag-value":
        w("\n]}\n")
print(n)
