// `eima quote --kernel`: evidence for the running kernel's own IMA list, quoted by the TPM
// the kernel extends, without eimad. `eima verify` checks it like host evidence.
#pragma once

#include "cli/attest_commands.h"

namespace eima::cli
{

// Quotes o.pcrs (default sha256:10) of o.tpm (default device:/dev/tpmrm0) with o.nonce_hex,
// then reads the kernel's binary_runtime_measurements (EIMA_KERNEL_IMA_LIST overrides the
// path, for tests) and keeps exactly the entries the quote covers. Writes the evidence like
// cmd_quote; returns the exit code.
int cmd_quote_kernel(const QuoteOptions &o);

} // namespace eima::cli
