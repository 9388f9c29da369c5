#include "bpfsign/bpf_policy.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "common/hex.h"
#include "common/json_text.h"
#include "common/unique_fd.h"

extern "C" {
#include "bpf/abi/bpf_policy.h"
}

namespace eima::bpfsign {
namespace {

Result<int> map_fd(const LoadedObject &loaded, const std::string &name, const char *object)
{
	return loaded_map_fd(loaded, name, fmt::format("configure BPF policy (is it {}.bpf.o?)", object));
}

// A file's identity as the kernel's inode names it: i_sb->s_dev is MAJOR << 20 | MINOR,
// while stat's st_dev is the user-space encoding of the same device.
Result<eima_bpf_loader_id> loader_id(const std::string &path)
{
	struct stat st {};
	if (::stat(path.c_str(), &st) != 0)
		return fail(errno, "stat trusted loader", path);
	if (!S_ISREG(st.st_mode))
		return fail(EINVAL, "trusted loader", path + " is not a regular file");
	eima_bpf_loader_id id{};
	id.dev = (std::uint64_t{major(st.st_dev)} << 20) | minor(st.st_dev);
	id.ino = st.st_ino;
	return id;
}

// A cgroup v2's id: the inode number of its directory in cgroupfs. Anything else (a
// directory elsewhere, cgroup v1) would give an id no task has, silently.
Result<std::uint64_t> cgroup_id(const std::string &dir)
{
	struct statfs fs {};
	if (::statfs(dir.c_str(), &fs) != 0)
		return fail(errno, "cgroup", dir);
	if (fs.f_type != CGROUP2_SUPER_MAGIC)
		return fail(EINVAL, "cgroup", dir + " is not a cgroup v2 directory");
	struct stat st {};
	if (::stat(dir.c_str(), &st) != 0)
		return fail(errno, "stat cgroup", dir);
	if (!S_ISDIR(st.st_mode))
		return fail(ENOTDIR, "cgroup", dir);
	return st.st_ino;
}

std::int64_t clock_ns(clockid_t id)
{
	timespec ts{};
	::clock_gettime(id, &ts);
	return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string fixed_string(const char *s, std::size_t n)
{
	return std::string(s, ::strnlen(s, n));
}

} // namespace

const char *policy_object_name(SigningPath p)
{
	return p == SigningPath::native ? "bpf_policy" : "bpf_policy_tl";
}

Result<PinnedPolicyTrust> read_pinned_policy_trust(const std::string &policy_dir)
{
	auto open_map = [&](const char *name) {
		return UniqueFd(bpf_obj_get((policy_dir + "/map_" + name).c_str()));
	};
	PinnedPolicyTrust out;
	UniqueFd config = open_map("policy_config");
	eima_bpf_policy_config cfg{};
	std::uint32_t zero = 0;
	if (!config || bpf_map_lookup_elem(config.get(), &zero, &cfg) != 0)
		return fail(errno, "read BPF policy", policy_dir + "/map_policy_config");
	out.enforcing = cfg.enabled && !cfg.audit;
	if (UniqueFd keyrings = open_map("trusted_keyrings")) {
		std::int32_t key = 0, *prev = nullptr;
		while (bpf_map_get_next_key(keyrings.get(), prev, &key) == 0) {
			out.keyrings.push_back(key);
			prev = &key;
		}
		return out;
	}
	UniqueFd loaders = open_map("trusted_loaders");
	if (!loaders)
		return fail(errno, "read BPF policy",
			    policy_dir + ": neither map_trusted_keyrings nor map_trusted_loaders");
	out.path = SigningPath::trusted_loader;
	auto self = loader_id("/proc/self/exe");
	std::uint8_t one = 0;
	out.trusts_own_executable = self && bpf_map_lookup_elem(loaders.get(), &*self, &one) == 0;
	return out;
}

Result<void> audit_pinned_policy(const std::string &policy_dir)
{
	std::string path = policy_dir + "/map_policy_config";
	UniqueFd config(bpf_obj_get(path.c_str()));
	eima_bpf_policy_config cfg{};
	std::uint32_t zero = 0;
	if (!config || bpf_map_lookup_elem(config.get(), &zero, &cfg) != 0)
		return fail(errno, "read BPF policy", path);
	cfg.audit = 1;
	if (bpf_map_update_elem(config.get(), &zero, &cfg, BPF_ANY) != 0)
		return fail(errno, "switch BPF policy to audit mode", path);
	return {};
}

Result<void> configure_bpf_policy(const LoadedObject &loaded, const BpfPolicySettings &s)
{
	const char *object = policy_object_name(s.path);
	auto config = map_fd(loaded, "policy_config", object);
	if (!config)
		return std::unexpected(config.error());
	if (s.path == SigningPath::native) {
		if (s.trusted_keyrings.empty() ||
		    s.trusted_keyrings.size() > EIMA_BPF_POLICY_MAX_KEYRINGS)
			return fail("configure BPF policy",
				    fmt::format("{} trusted keyrings (1 to {})",
						s.trusted_keyrings.size(), EIMA_BPF_POLICY_MAX_KEYRINGS));
		auto keyrings = map_fd(loaded, "trusted_keyrings", object);
		if (!keyrings)
			return std::unexpected(keyrings.error());
		for (std::int32_t k : s.trusted_keyrings) {
			std::uint8_t one = 1;
			if (bpf_map_update_elem(*keyrings, &k, &one, BPF_ANY) != 0)
				return fail(errno, "trust keyring", std::to_string(k));
		}
	} else {
		if (s.trusted_loaders.empty() ||
		    s.trusted_loaders.size() > EIMA_BPF_POLICY_MAX_LOADERS)
			return fail("configure BPF policy",
				    fmt::format("{} trusted loaders (1 to {})", s.trusted_loaders.size(),
						EIMA_BPF_POLICY_MAX_LOADERS));
		auto loaders = map_fd(loaded, "trusted_loaders", object);
		auto tags = map_fd(loaded, "trusted_tags", object);
		if (!loaders)
			return std::unexpected(loaders.error());
		if (!tags)
			return std::unexpected(tags.error());
		for (const auto &path : s.trusted_loaders) {
			auto id = loader_id(path);
			if (!id)
				return std::unexpected(id.error());
			std::uint8_t one = 1;
			if (bpf_map_update_elem(*loaders, &*id, &one, BPF_ANY) != 0)
				return fail(errno, "trust loader", path);
		}
		// The policy's own programs, as any other program this loader loads.
		if (auto r = record_trusted_tags(loaded, *tags); !r)
			return r;
	}
	eima_bpf_policy_config cfg{};
	cfg.enabled = 1;
	cfg.audit = s.audit ? 1 : 0;
	if (!s.cgroup.empty()) {
		auto id = cgroup_id(s.cgroup);
		if (!id)
			return std::unexpected(id.error());
		cfg.cgroup_id = *id;
	}
	if (s.exempt_cgroups.size() > EIMA_BPF_POLICY_MAX_EXEMPT)
		return fail("configure BPF policy",
			    fmt::format("{} exempted cgroups (at most {})", s.exempt_cgroups.size(),
					EIMA_BPF_POLICY_MAX_EXEMPT));
	for (std::size_t i = 0; i < s.exempt_cgroups.size(); ++i) {
		auto id = cgroup_id(s.exempt_cgroups[i]);
		if (!id)
			return std::unexpected(id.error());
		cfg.exempt_cgroup_ids[i] = *id;
	}
	std::uint32_t zero = 0;
	if (bpf_map_update_elem(*config, &zero, &cfg, BPF_ANY) != 0)
		return fail(errno, "enable BPF policy", "policy_config");
	return {};
}

Result<void> record_trusted_tags(const LoadedObject &loaded, int trusted_tags_fd)
{
	for (const auto &[name, fd] : loaded.programs) {
		auto tag = program_tag(fd.get());
		if (!tag)
			return fail(tag.error().err, "record trusted tag", name);
		eima_bpf_tag key{};
		std::memcpy(key.tag, tag->data(), sizeof(key.tag));
		std::uint8_t one = 1;
		if (bpf_map_update_elem(trusted_tags_fd, &key, &one, BPF_ANY) != 0)
			return fail(errno, "record trusted tag",
				    fmt::format("{} ({})", name, to_hex({tag->data(), tag->size()})));
	}
	return {};
}

Result<void> record_trusted_tags(const LoadedObject &loaded, const std::string &policy_dir)
{
	std::string path = policy_dir + "/map_trusted_tags";
	UniqueFd fd(bpf_obj_get(path.c_str()));
	if (!fd)
		return fail(errno, "open the trusted-loader policy's tags", path);
	return record_trusted_tags(loaded, fd.get());
}

enforce::AppraisalRecord bpf_policy_record(const eima_bpf_policy_event &ev,
					   std::int64_t boot_to_wall_ns)
{
	enforce::AppraisalRecord r;
	r.time_ns = static_cast<std::uint64_t>(static_cast<std::int64_t>(ev.ktime_ns) + boot_to_wall_ns);
	r.container = "host";
	r.pid = ev.pid;
	r.tid = ev.tid;
	r.uid = ev.uid;
	r.comm = fixed_string(ev.comm, sizeof(ev.comm));
	r.dev = ev.exe_dev;
	r.ino = ev.exe_ino;
	r.operation = "bpf_prog_load";
	switch (ev.reason) {
	case EIMA_BPF_UNSIGNED: r.reason = "unsigned_bpf"; break;
	case EIMA_BPF_UNTRUSTED_KEYRING: r.reason = "untrusted_keyring"; break;
	case EIMA_BPF_UNKNOWN_TAG: r.reason = "unknown_tag"; break;
	case EIMA_BPF_PENDING_FULL: r.reason = "too_many_pending_loads"; break;
	case EIMA_BPF_EXE_CHANGE:
		r.reason = "exe_change";
		r.operation = "prctl_set_mm_exe";
		break;
	default: r.reason = fmt::format("reason-{}", ev.reason);
	}
	r.error = ev.denied ? -EPERM : 0;
	r.denied = ev.denied != 0;
	if (ev.has_tag)
		r.digest = "tag:" + to_hex({ev.tag, sizeof(ev.tag)});
	r.mechanism = "bpf_policy";
	r.detail = fmt::format("program \"{}\" type {}", fixed_string(ev.prog_name, sizeof(ev.prog_name)),
			       ev.prog_type);
	if (ev.reason == EIMA_BPF_UNTRUSTED_KEYRING)
		r.detail += fmt::format(", signed for keyring {}", ev.keyring_id);
	return r;
}

struct PolicyEventReader::State {
	PolicyRecordSink sink;
	RingRecordDecoder decode;
	std::string path; // or what names the ring
	std::int64_t boot_to_wall_ns = 0;
	std::uint64_t written = 0;
	std::optional<Error> error;
	UniqueFd map;
	ring_buffer *rb = nullptr;
	~State()
	{
		if (rb)
			ring_buffer__free(rb);
	}
};

namespace {

int on_event(void *ctx, void *data, std::size_t size)
{
	auto *st = static_cast<PolicyEventReader::State *>(ctx);
	auto r = st->decode({static_cast<const std::uint8_t *>(data), size}, st->boot_to_wall_ns);
	if (!r) {
		st->error = r.error();
		return -EINVAL;
	}
	if (auto w = st->sink(*r); !w) {
		st->error = w.error();
		return -EIO;
	}
	st->written++;
	return 0;
}

Result<enforce::AppraisalRecord> decode_policy_event(std::span<const std::uint8_t> data,
						     std::int64_t boot_to_wall_ns)
{
	auto ev = ring_record_as<eima_bpf_policy_event>(data, "read BPF policy event");
	if (!ev)
		return std::unexpected(ev.error());
	auto r = bpf_policy_record(*ev, boot_to_wall_ns);
	r.path = executable_of(ev->pid); // the inode names it anyway
	return r;
}

} // namespace

std::string executable_of(std::uint32_t pid)
{
	std::string exe(4096, '\0');
	ssize_t n = ::readlink(fmt::format("/proc/{}/exe", pid).c_str(), exe.data(), exe.size());
	if (n <= 0)
		return {};
	exe.resize(static_cast<std::size_t>(n));
	return exe;
}

Result<PolicyEventReader> PolicyEventReader::open(const std::string &policy_dir,
						  PolicyRecordSink sink)
{
	std::string path = policy_dir + "/map_policy_events";
	UniqueFd map(bpf_obj_get(path.c_str()));
	if (!map)
		return fail(errno, "open the BPF policy's events", path);
	return open_ring(map.get(), path, decode_policy_event, std::move(sink));
}

Result<PolicyEventReader> PolicyEventReader::open_ring(int ring_fd, const std::string &what,
						       RingRecordDecoder decode, PolicyRecordSink sink)
{
	PolicyEventReader r;
	r.st_ = std::make_unique<State>();
	r.st_->sink = std::move(sink);
	r.st_->decode = std::move(decode);
	r.st_->path = what;
	r.st_->boot_to_wall_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	r.st_->map.reset(::fcntl(ring_fd, F_DUPFD_CLOEXEC, 0));
	if (!r.st_->map)
		return fail(errno, "dup events ring", what);
	r.st_->rb = ring_buffer__new(r.st_->map.get(), on_event, r.st_.get(), nullptr);
	if (!r.st_->rb)
		return fail(errno, "read events", what);
	return r;
}

PolicyEventReader::PolicyEventReader(PolicyEventReader &&) noexcept = default;
PolicyEventReader &PolicyEventReader::operator=(PolicyEventReader &&) noexcept = default;
PolicyEventReader::~PolicyEventReader() = default;

int PolicyEventReader::epoll_fd() const
{
	return ring_buffer__epoll_fd(st_->rb);
}

std::uint64_t PolicyEventReader::written() const
{
	return st_->written;
}

namespace {

Result<std::uint64_t> count_since(PolicyEventReader::State &st, std::uint64_t before, int n)
{
	if (st.error) {
		Error e = *st.error;
		st.error.reset();
		return std::unexpected(e);
	}
	if (n < 0 && n != -EINTR)
		return fail(-n, "read events", st.path);
	return st.written - before;
}

} // namespace

Result<std::uint64_t> PolicyEventReader::consume()
{
	std::uint64_t before = st_->written;
	return count_since(*st_, before, ring_buffer__consume(st_->rb));
}

Result<std::uint64_t> PolicyEventReader::poll(int timeout_ms)
{
	std::uint64_t before = st_->written;
	return count_since(*st_, before, ring_buffer__poll(st_->rb, timeout_ms));
}

Result<std::uint64_t> drain_policy_events(const std::string &policy_dir, enforce::AuditLog &log,
					  bool follow, const std::atomic<bool> &stop)
{
	auto reader = PolicyEventReader::open(policy_dir, [&log](const enforce::AppraisalRecord &r) {
		return log.append(json_dump(enforce::to_json(r)));
	});
	if (!reader)
		return std::unexpected(reader.error());
	// A stop signal interrupts the wait (EINTR); what is queued then is written below.
	while (follow && !stop.load())
		if (auto r = reader->poll(200); !r)
			return std::unexpected(r.error());
	if (auto r = reader->consume(); !r)
		return std::unexpected(r.error());
	return reader->written();
}

} // namespace eima::bpfsign
