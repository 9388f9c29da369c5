#include "agent/self_measurement.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <climits>

#include "agent/file_measurer.h"
#include "common/unique_fd.h"
#include "policy/policy_compiler.h"

namespace eima::agent {

Result<ima::TemplateEntry> own_binary_entry(const SelfMeasurementFormat &f, const std::string &exe)
{
	// Hashed through the open file, not the path: a package upgrade that replaced the file
	// on disk leaves /proc/self/exe naming the (deleted) binary that runs.
	UniqueFd fd(::open(exe.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (!fd)
		return fail(errno, "open own binary", exe);
	char path[PATH_MAX];
	ssize_t n = ::readlink(exe.c_str(), path, sizeof(path));
	// Not a link (a test names a file): its own name.
	std::string name = n > 0 && static_cast<std::size_t>(n) < sizeof(path)
				   ? std::string(path, static_cast<std::size_t>(n))
				   : exe;
	ima::HashAlgo algo = f.tmpl == TemplateKind::ima ? ima::HashAlgo::sha1 : f.hash;
	Result<Bytes> digest = ima::hash_file(algo, fd.get(), name);
	if (!digest)
		return std::unexpected(digest.error());
	Bytes sig = f.tmpl == TemplateKind::ima_sig ? read_ima_signature(fd.get()) : Bytes{};
	return make_file_entry(f.tmpl, algo, digest, sig, name, f.pcr);
}

Result<attest::BpfProgRecord> program_record(const ProbeProgram &prog, const std::string &object,
					     std::span<const std::uint8_t> object_sha256,
					     const std::string &signer)
{
	bpf_prog_info info{};
	std::uint32_t len = sizeof(info);
	if (bpf_obj_get_info_by_fd(prog.fd.get(), &info, &len) != 0)
		return fail(errno, "read BPF program info", prog.name);
	attest::BpfProgRecord r;
	r.name = prog.name;
	const char *type = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(info.type));
	r.type = type ? type : "type " + std::to_string(info.type);
	r.tag.assign(info.tag, info.tag + sizeof(info.tag));
	r.object = object;
	r.object_sha256.assign(object_sha256.begin(), object_sha256.end());
	// Said as it is: the measurement programs still come from the skeleton eimad carries,
	// unsigned (docs/signed-bpf.md), so that a verifier can tell them from signed ones.
	r.is_signed = !signer.empty();
	r.signer = signer;
	return r;
}

namespace {

// An ima-buf entry; in a list of the legacy 'ima' template an 'ima' entry with the buffer's
// SHA-1 instead: evmctl refuses lists that mix 'ima' with other templates, and 'ima' has
// no field for the buffer itself.
Result<ima::TemplateEntry> buffer_entry(const SelfMeasurementFormat &f, const std::string &name,
					const Bytes &buf)
{
	ima::HashAlgo algo = f.tmpl == TemplateKind::ima ? ima::HashAlgo::sha1 : f.hash;
	auto d = ima::digest(algo, buf);
	if (!d)
		return std::unexpected(d.error());
	if (f.tmpl == TemplateKind::ima)
		return ima::make_ima(*d, name, f.pcr);
	return ima::make_ima_buf(algo, *d, name, buf, f.pcr);
}

} // namespace

Result<ima::TemplateEntry> program_entry(const SelfMeasurementFormat &f,
					 const attest::BpfProgRecord &record)
{
	auto buf = attest::bpf_prog_buffer(record);
	if (!buf)
		return std::unexpected(buf.error());
	return buffer_entry(f, attest::bpf_prog_entry_name(record.name), *buf);
}

Result<std::vector<ima::TemplateEntry>>
program_entries(const SelfMeasurementFormat &f, const std::vector<ProbeProgram> &programs,
		const std::string &object, std::span<const std::uint8_t> object_sha256,
		const std::string &signer)
{
	std::vector<ima::TemplateEntry> out;
	for (auto &p : programs) {
		auto r = program_record(p, object, object_sha256, signer);
		auto e = r ? program_entry(f, *r) : std::unexpected(r.error());
		if (!e)
			return std::unexpected(e.error());
		out.push_back(std::move(*e));
	}
	return out;
}

Result<ima::TemplateEntry> policy_entry(const SelfMeasurementFormat &f, const eima_policy &policy)
{
	return buffer_entry(f, std::string(attest::policy_entry_name),
			    policy::compiled_policy_bytes(policy));
}

Result<std::vector<ima::TemplateEntry>> measure_self(const SelfMeasurementFormat &f,
						     const MeasurementProbe &probe,
						     const eima_policy &policy)
{
	std::vector<ima::TemplateEntry> out;
	auto bin = own_binary_entry(f);
	if (!bin)
		return std::unexpected(bin.error());
	out.push_back(std::move(*bin));
	auto fds = probe.program_fds();
	if (!fds)
		return std::unexpected(fds.error());
	auto progs = program_entries(f, *fds, probe.object_name(), probe.object_sha256(),
				     probe.signer());
	if (!progs)
		return std::unexpected(progs.error());
	for (auto &e : *progs)
		out.push_back(std::move(e));
	auto pol = policy_entry(f, policy);
	if (!pol)
		return std::unexpected(pol.error());
	out.push_back(std::move(*pol));
	return out;
}

Result<std::vector<ima::TemplateEntry>> measure_protection(const SelfMeasurementFormat &f,
							   const SelfProtection &protection)
{
	auto fds = protection.program_fds();
	if (!fds)
		return std::unexpected(fds.error());
	return program_entries(f, *fds, protection.object_name(), protection.object_sha256(),
			       protection.signer());
}

} // namespace eima::agent
