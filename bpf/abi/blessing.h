/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The eima blessing: the value of the user.eima xattr (security.bpf.eima where the kernel
 * lets BPF read that namespace, 6.13+). Defined once, here; written by src/sbom/blessing.cpp
 * (eima bless) and meant to be read by the BPF programs, which verify it with
 * bpf_verify_pkcs7_signature. docs/blessing.md describes the bytes.
 *
 *   struct eima_blessing_hdr   8 bytes
 *   __u8 digest[digest_size]   the file's digest in hash_algo (IMA's: bpf_ima_file_hash)
 *   __u8 signature[]           detached DER PKCS#7 (CMS) over the header and digest, to the
 *                              end of the value
 *
 * The signed message is the value's first sizeof(hdr) + digest_size bytes, as they stand:
 * a verifier compares digest[] with the digest it took itself and hands the prefix and the
 * rest to the signature check, with no re-encoding.
 */
#ifndef EIMA_ABI_BLESSING_H
#define EIMA_ABI_BLESSING_H

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

#define EIMA_BLESSING_MAGIC "EIMA"      /* 4 bytes, no terminator in the value */
#define EIMA_BLESSING_VERSION 1
#define EIMA_BLESSING_DIGEST_MAX 64     /* SHA-512 */
/* Header, largest digest and a PKCS#7 signature by a 4096-bit RSA key (~600 bytes): a
 * reader's buffer of this size holds any value eima writes. */
#define EIMA_BLESSING_VALUE_MAX 1024

struct eima_blessing_hdr {
	__u8 magic[4];    /* "EIMA" */
	__u8 version;     /* EIMA_BLESSING_VERSION */
	__u8 hash_algo;   /* the kernel's enum hash_algo: 2 sha1, 4 sha256, 5 sha384, 6 sha512 */
	__u8 digest_size; /* bytes of digest that follow, <= EIMA_BLESSING_DIGEST_MAX */
	__u8 flags;       /* 0; a reader refuses other values */
};

#endif /* EIMA_ABI_BLESSING_H */
