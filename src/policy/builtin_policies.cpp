// The built-in policies, as policy text so that they go through the same parser, checks
// and compiler as a policy file, and `eima policy check builtin:tcb` can show them.
#include "policy/ima_policy.h"

namespace eima::policy {

namespace {

// dont_measure_rules[] of ima_policy.c, in its order. Magic numbers from
// include/uapi/linux/magic.h.
#define EIMA_PSEUDO_FS_HEAD                                                                    \
	"# PROC_SUPER_MAGIC\n"                                                                 \
	"dont_measure fsmagic=0x9fa0\n"                                                        \
	"# SYSFS_MAGIC\n"                                                                      \
	"dont_measure fsmagic=0x62656572\n"                                                    \
	"# DEBUGFS_MAGIC\n"                                                                    \
	"dont_measure fsmagic=0x64626720\n"
#define EIMA_PSEUDO_FS_TAIL                                                                    \
	"# DEVPTS_SUPER_MAGIC\n"                                                               \
	"dont_measure fsmagic=0x1cd1\n"                                                        \
	"# BINFMTFS_MAGIC\n"                                                                   \
	"dont_measure fsmagic=0x42494e4d\n"                                                    \
	"# SECURITYFS_MAGIC\n"                                                                 \
	"dont_measure fsmagic=0x73636673\n"                                                    \
	"# SELINUX_MAGIC\n"                                                                    \
	"dont_measure fsmagic=0xf97cff8c\n"                                                    \
	"# SMACK_MAGIC\n"                                                                      \
	"dont_measure fsmagic=0x43415d53\n"                                                    \
	"# CGROUP_SUPER_MAGIC\n"                                                               \
	"dont_measure fsmagic=0x27e0eb\n"                                                      \
	"# CGROUP2_SUPER_MAGIC\n"                                                              \
	"dont_measure fsmagic=0x63677270\n"                                                    \
	"# NSFS_MAGIC\n"                                                                       \
	"dont_measure fsmagic=0x6e736673\n"                                                    \
	"# EFIVARFS_MAGIC\n"                                                                   \
	"dont_measure fsmagic=0xde5e81e4\n"

// ima_policy=tcb: dont_measure_rules + default_measurement_rules (DEFAULT_TCB). The two
// FILE_CHECK rules are IMA_INMASK, one with IMA_EUID and one with IMA_UID.
constexpr std::string_view tcb_text = "# The kernel's ima_policy=tcb\n" EIMA_PSEUDO_FS_HEAD
				      "# TMPFS_MAGIC\n"
				      "dont_measure fsmagic=0x1021994\n" EIMA_PSEUDO_FS_TAIL
				      "measure func=MMAP_CHECK mask=MAY_EXEC\n"
				      "measure func=BPRM_CHECK mask=MAY_EXEC\n"
				      "measure func=FILE_CHECK mask=^MAY_READ euid=0\n"
				      "measure func=FILE_CHECK mask=^MAY_READ uid=0\n"
				      "measure func=MODULE_CHECK\n"
				      "measure func=FIRMWARE_CHECK\n"
				      "measure func=POLICY_CHECK\n";

// eima's default. tmpfs is measured on purpose (see ima_policy.h).
constexpr std::string_view exec_text =
    "# eima's default: everything executed or mapped executable, host and containers\n"
    "# The kernel's pseudo-filesystem exclusions, except tmpfs\n" EIMA_PSEUDO_FS_HEAD
	EIMA_PSEUDO_FS_TAIL "measure func=BPRM_CHECK\n"
    "measure func=MMAP_CHECK mask=MAY_EXEC\n";

#undef EIMA_PSEUDO_FS_HEAD
#undef EIMA_PSEUDO_FS_TAIL

} // namespace

std::string_view builtin_policy_text(std::string_view name)
{
	if (name == "tcb")
		return tcb_text;
	if (name == "exec")
		return exec_text;
	return {};
}

Result<Policy> builtin_policy(std::string_view name)
{
	std::string_view text = builtin_policy_text(name);
	if (text.empty())
		return fail("find built-in IMA policy",
			    "'" + std::string(name) + "' (built-ins: exec, tcb)");
	return parse_policy(text, "builtin:" + std::string(name));
}

} // namespace eima::policy
