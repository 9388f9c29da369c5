#include "cli/kernel_quote.h"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "attest/evidence.h"
#include "attest/quoted_prefix.h"
#include "cli/report.h"
#include "common/file_io.h"
#include "tpm/tpm.h"

namespace eima::cli
{

namespace
{

constexpr const char *default_tcti = "device:/dev/tpmrm0";
constexpr const char *securityfs_dir = "/sys/kernel/security";
constexpr const char *kernel_list = "/sys/kernel/security/ima/binary_runtime_measurements";
constexpr long securityfs_magic = 0x73636673; // SECURITYFS_MAGIC ("scfs")
// Quotes retried when the kernel extends a quoted PCR while the TPM signs (see quote_stable).
constexpr int quote_attempts = 8;

// Why the kernel's list is not there, said so the user can act on it: securityfs is not
// mounted (the list is there once it is) or the kernel has no IMA at all.
Error no_kernel_list(const std::string &path, int err)
{
	if (path != kernel_list)
		return Error{err, "open", path};
	struct statfs fs {
	};
	if (::statfs(securityfs_dir, &fs) != 0 || fs.f_type != securityfs_magic)
		return Error{err, "read the kernel's IMA list",
			     path + ": securityfs is not mounted on " + securityfs_dir +
				     " (mount -t securityfs securityfs " + securityfs_dir + ")"};
	return Error{err, "read the kernel's IMA list",
		     path + ": the kernel has no IMA (CONFIG_IMA), or it is not initialised"};
}

// A device TCTI whose node is missing is the usual "no TPM": say so rather than let tctildr
// report a failed dlopen chain.
Result<void> check_device(const std::string &tcti)
{
	if (!tcti.starts_with("device:"))
		return {};
	std::string dev = tcti.substr(7);
	struct stat st {
	};
	if (::stat(dev.c_str(), &st) != 0)
		return fail(errno, "open the TPM",
			    dev + ": no TPM here (a machine without a TPM 2.0, or without its "
				  "driver; --tpm selects another)");
	return {};
}

// The kernel extends PCR 10 whenever it measures, independently of us, and Tpm::quote reads
// the PCR values it reports after the quote. Values equal before and after mean nothing was
// extended in between (a PCR never returns to an earlier value), so the quote signed them;
// otherwise quote again.
Result<tpm::Quote> quote_stable(tpm::Tpm &t, ima::HashAlgo bank,
				const std::vector<std::uint32_t> &pcrs, const Bytes &nonce)
{
	for (int attempt = 0; attempt < quote_attempts; ++attempt) {
		auto before = t.read_pcrs(bank, pcrs);
		if (!before)
			return std::unexpected(before.error());
		auto q = t.quote(bank, pcrs, nonce);
		if (!q)
			return std::unexpected(q.error());
		if (q->pcrs == *before)
			return q;
	}
	return fail(EAGAIN, "quote",
		    fmt::format("the quoted PCRs changed during each of {} quotes (the kernel is "
				"measuring without pause)",
				quote_attempts));
}

} // namespace

int cmd_quote_kernel(const QuoteOptions &o)
{
	if (!o.container.empty()) {
		fmt::print(stderr, "eima: --kernel and --container exclude each other\n");
		return 1;
	}
	auto nonce = parse_nonce(o.nonce_hex);
	if (!nonce)
		return report(nonce.error());
	auto sel = parse_pcr_selection(o.pcrs.empty() ? "sha256:10" : o.pcrs);
	if (!sel)
		return report(sel.error());
	const ima::HashAlgo bank = *ima::hash_algo_from_name(sel->first);

	const char *env = std::getenv("EIMA_KERNEL_IMA_LIST");
	const std::string list_path = env && *env ? env : kernel_list;
	// Checked before quoting, so that a machine without IMA fails without touching the TPM.
	if (::access(list_path.c_str(), R_OK) != 0)
		return report(no_kernel_list(list_path, errno));

	const std::string tcti = o.tpm.empty() ? default_tcti : o.tpm;
	if (auto d = check_device(tcti); !d)
		return report(d.error());
	auto t = tpm::Tpm::open(tcti);
	if (!t)
		return report(t.error());
	auto q = quote_stable(*t, bank, sel->second, *nonce);
	if (!q)
		return report(q.error());

	// Read after the quote: the kernel adds an entry to its list before extending the TPM,
	// so every entry the quoted PCRs hold is in it, and usually a few more.
	auto list = read_file(list_path);
	if (!list)
		return report(list.error());
	auto bytes = as_bytes(*list);
	auto n = attest::quoted_prefix(bytes, bank, q->pcrs);
	if (!n) {
		Error e = n.error();
		e.context = list_path + ": " + e.context;
		return report(e);
	}
	auto ev = attest::evidence_from_quote(std::move(*q), *nonce, *n, bytes, list_path);
	if (!ev)
		return report(ev.error());
	ev->source = "kernel";
	if (int rc = write_evidence(*ev, o.out, o.tpm2_tools_dir); rc != 0)
		return rc;
	if (!o.out.empty() && o.out != "-")
		fmt::print(stderr, "{}: quote over {}:{} and {} kernel list entries\n", o.out,
			   sel->first, fmt::join(sel->second, ","), ev->entries);
	return 0;
}

} // namespace eima::cli
