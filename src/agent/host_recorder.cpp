#include "agent/host_recorder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "agent/agent_log.h"
#include "agent/container_registry.h"
#include "agent/list_record_reader.h"
#include "agent/list_recovery.h"
#include "attest/vtpm_binding.h"
#include "common/file_io.h"
#include "common/unique_fd.h"
#include "ima/binary_log.h"

namespace eima::agent {

namespace fs = std::filesystem;

namespace {

std::uint64_t read_u64_file(const std::string &path)
{
	auto text = read_file(path);
	return text ? std::strtoull(text->c_str(), nullptr, 10) : 0;
}

} // namespace

HostRecorder::HostRecorder(std::string dir, TpmExtender *tpm, TpmExtender::Opener reopen)
	: dir_(std::move(dir)), tpm_(tpm), reopen_(std::move(reopen))
{
}

void HostRecorder::back_tpm(const std::vector<ima::HashAlgo> &banks, std::uint64_t held)
{
	if (!tpm_ || !reopen_)
		return;
	tpm_->back_with_list({.reopen = reopen_,
			      .read = list_record_source(dir_ + "/binary_runtime_measurements", banks),
			      .banks = banks,
			      .name = "host TPM"},
			     held);
}

Result<bool> HostRecorder::open(const std::vector<ima::HashAlgo> &banks, bool fresh,
				const std::string &boot_id, const ima::TemplateEntry &first)
{
	auto resumed = resume(banks, fresh, boot_id);
	if (!resumed)
		return std::unexpected(resumed.error());
	if (!*resumed) {
		auto host = MeasurementList::create(dir_, banks);
		if (!host)
			return std::unexpected(host.error());
		list_ = std::move(*host);
		back_tpm(banks, 0);
		append(first);
	}
	if (auto w = write_file(dir_ + "/boot_id", boot_id); !w)
		return std::unexpected(w.error());
	return *resumed;
}

Result<bool> HostRecorder::resume(const std::vector<ima::HashAlgo> &banks, bool fresh,
				  const std::string &boot_id)
{
	const std::string &dir = dir_;
	auto start_new = [&](std::string why) -> Result<bool> {
		state_ = "new: " + why;
		return false;
	};
	// An old list is set aside, never overwritten: it is evidence of what ran.
	auto set_aside = [&](const std::string &as) -> Result<std::string> {
		std::string old = dir + as + std::to_string(::time(nullptr));
		std::error_code ec;
		fs::rename(dir, old, ec);
		if (ec)
			return fail(ec.value(), "set aside the last list", dir + " -> " + old);
		return old;
	};
	if (fresh)
		return start_new("--fresh");
	if (::access((dir + "/binary_runtime_measurements").c_str(), F_OK) != 0)
		return start_new("no list to resume");
	// A list from another boot describes a TPM that has been reset since.
	auto boot = read_file(dir + "/boot_id");
	if (!boot || *boot != boot_id) {
		auto old = set_aside(".before-boot-");
		if (!old)
			return std::unexpected(old.error());
		return start_new("the list in " + dir + " is from another boot (kept as " + *old + ")");
	}
	auto r = MeasurementList::resume(dir, banks);
	if (!r)
		return std::unexpected(r.error());
	if (r->records.empty()) // not even boot_aggregate survived: nothing to resume
		return start_new("the last list held no whole entry");
	// Where the interruption began: the last drain whose entries reached the file, else
	// the list's last write (both before any exec the list does not hold).
	drained_at_ns_ = read_u64_file(dir + "/drained_at_ns");
	if (!drained_at_ns_) {
		struct stat st;
		if (::stat((dir + "/binary_runtime_measurements").c_str(), &st) == 0)
			drained_at_ns_ = std::uint64_t(st.st_mtim.tv_sec) * 1'000'000'000u +
					 st.st_mtim.tv_nsec;
	}
	std::string torn = r->torn_bytes ? fmt::format(", {} torn bytes cut off ({}; kept in "
						      "binary_runtime_measurements.torn)",
						      r->torn_bytes, r->torn_reason)
					 : "";
	std::size_t extended = r->records.size();
	if (tpm_) {
		// The prefix of the list the TPM holds; the rest is extended now, in order.
		auto pcrs = tpm_->later<PcrBanks>([&banks](tpm::Tpm &t) { return read_all_pcrs(t, banks); })
				    .get();
		if (!pcrs)
			return std::unexpected(pcrs.error());
		auto prefix = extended_prefix(r->records, *pcrs);
		if (!prefix) {
			auto old = set_aside(".unverifiable-");
			if (!old)
				return std::unexpected(old.error());
			return start_new(fmt::format("the TPM holds no prefix of the last list ({} "
						     "entries{}); kept as {}",
						     r->records.size(), torn, *old));
		}
		extended = *prefix;
		back_tpm(banks, *prefix);
		for (std::size_t i = *prefix; i < r->records.size(); ++i)
			tpm_->submit(std::move(r->records[i]));
	}
	state_ = fmt::format("resumed: {} entries, {} already in the TPM, {} extended now{}",
			     r->list.entries(), extended, r->records.size() - extended, torn);
	list_ = std::move(r->list);
	return true;
}

void HostRecorder::append(const ima::TemplateEntry &entry)
{
	auto rec = list_->append(entry);
	if (!rec) {
		if (rec.error().err != ENOSPC) // lost for want of room: counted, said once
			spdlog::error("host list: {}", rec.error().message());
		return;
	}
	if (tpm_)
		unwritten_.push_back(std::move(*rec)); // extended once written (flush)
}

void HostRecorder::flush()
{
	if (!list_->flush()) // logged by the list
		return; // not extended either: they go out with the flush that writes them
	// Entries were lost while the list could not be written: the violation that says how
	// many is written (and extended) before anything after it.
	if (auto lost = list_->record_lost(); lost && *lost) {
		if (tpm_)
			unwritten_.push_back(std::move(**lost));
		if (!list_->flush())
			return;
	}
	for (auto &rec : unwritten_)
		tpm_->submit(std::move(rec));
	unwritten_.clear();
}

void HostRecorder::save_drained_at(std::chrono::system_clock::time_point t,
				   std::chrono::steady_clock::time_point steady_now)
{
	// An older value only makes the span start earlier, which still covers every exec
	// in it.
	bool new_entries = entries() != entries_at_save_ || drained_saved_ == decltype(drained_saved_){};
	if (!unwritten_.empty() || steady_now - drained_saved_ < (new_entries ? busy_save : idle_save))
		return;
	drained_saved_ = steady_now;
	entries_at_save_ = entries();
	// Replaced whole (rename), so a kill mid-write never leaves it empty.
	std::string path = dir_ + "/drained_at_ns";
	if (write_file(path + ".tmp", std::to_string(wall_ns(t)) + "\n"))
		::rename((path + ".tmp").c_str(), path.c_str());
}

void bind_vtpm(Container &c, HostRecorder &host, ima::HashAlgo hash, std::uint32_t pcr)
{
	if (!c.vtpm || c.bound)
		return;
	auto state = c.vtpm->state();
	if (state == TpmExtender::State::opening)
		return;
	c.bound = true;
	if (state == TpmExtender::State::failed) {
		spdlog::error("container {}: vTPM did not start: {}", c.id, c.vtpm->error());
		return;
	}
	auto id = c.vtpm->identity();
	Bytes buf = attest::vtpm_binding_buffer({c.id, id->ek_pem, id->ak_pem, c.ns.mnt});
	auto d = ima::digest(hash, buf);
	auto e = d ? ima::make_ima_buf(hash, *d, attest::vtpm_binding_name(c.id), buf, pcr)
		   : std::unexpected(d.error());
	if (e)
		host.append(*e);
	else
		spdlog::error("container {}: binding: {}", c.id, e.error().message());
}

} // namespace eima::agent
