#include "agent/virtual_tpm.h"

#include <filesystem>

#include <fmt/format.h>

#include "agent/list_record_reader.h"
#include "agent/list_recovery.h"

namespace eima::agent {

namespace {

const std::vector<ima::HashAlgo> vtpm_banks = {ima::HashAlgo::sha1, ima::HashAlgo::sha256};

} // namespace

VirtualTpm::VirtualTpm(std::string state_dir, std::string list_path, std::string name)
	: state_dir_(std::move(state_dir))
{
	extender_ = std::make_unique<TpmExtender>([this] { return open(); });
	back_with_list(std::move(list_path), std::move(name), 0);
}

VirtualTpm::VirtualTpm(std::string state_dir, std::string list_path, std::string name,
		       std::vector<ExtendRecord> records)
	: state_dir_(std::move(state_dir)), resume_(std::move(records))
{
	// open() brings it up to the whole resumed list (catch_up) before any later record.
	// Counted before the extender's thread starts: catch_up clears the records there.
	std::uint64_t held = resume_->size();
	extender_ = std::make_unique<TpmExtender>([this] { return open(); });
	back_with_list(std::move(list_path), std::move(name), held);
}

void VirtualTpm::back_with_list(std::string list_path, std::string name, std::uint64_t held)
{
	extender_->back_with_list({.reopen = [this] { return reopen(); },
				   .read = list_record_source(std::move(list_path), vtpm_banks),
				   .banks = vtpm_banks,
				   .name = std::move(name)},
				  held);
}

Result<std::unique_ptr<tpm::Tpm>> VirtualTpm::reopen()
{
	std::string tcti;
	{
		std::lock_guard lock(mu_);
		if (!swtpm_) // it never started: start it as open() would
			return start_swtpm(false);
		if (auto r = swtpm_->restart_if_dead(); !r)
			return std::unexpected(r.error());
		tcti = swtpm_->tcti();
	}
	auto t = tpm::Tpm::open(tcti);
	if (!t)
		return std::unexpected(t.error());
	return std::make_unique<tpm::Tpm>(std::move(*t));
}

VirtualTpm::~VirtualTpm()
{
	extender_.reset(); // drains; swtpm is still up
	swtpm_.reset();    // persistent: saves its state (TPM2_Shutdown(STATE)) as it stops
	if (!discard_)
		return;
	std::error_code ec;
	std::filesystem::remove_all(state_dir_, ec);
}

Result<std::unique_ptr<tpm::Tpm>> VirtualTpm::start_swtpm(bool clear)
{
	// Persistent, as the host's swtpm: a killed eimad leaves it running in a session of its
	// own (no parent-death signal), and the next eimad adopts it by its pid file.
	tpm::SwtpmOptions opts;
	opts.banks = vtpm_banks;
	opts.persistent = true;
	opts.fresh = clear;
	{
		std::lock_guard lock(mu_);
		swtpm_.reset();
	}
	auto sw = tpm::Swtpm::start(state_dir_, opts);
	if (!sw)
		return std::unexpected(sw.error());
	auto t = tpm::Tpm::open((*sw)->tcti());
	if (!t)
		return std::unexpected(t.error());
	std::lock_guard lock(mu_);
	swtpm_ = std::move(*sw);
	return std::make_unique<tpm::Tpm>(std::move(*t));
}

Result<std::unique_ptr<tpm::Tpm>> VirtualTpm::catch_up(std::unique_ptr<tpm::Tpm> t)
{
	auto &records = *resume_;
	bool adopted = swtpm_->adopted();
	auto pcrs = read_all_pcrs(*t, vtpm_banks);
	if (!pcrs)
		return std::unexpected(pcrs.error());
	auto prefix = extended_prefix(records, *pcrs);
	std::string how = adopted ? "adopted the running swtpm" : "restarted from its saved state";
	if (!prefix) {
		// Something the list does not explain is in its PCRs (its saved state is older
		// than the list's entries, or was replaced): it starts clear and gets the whole
		// list, which the host list's entries for this container back.
		auto clear = start_swtpm(true);
		if (!clear)
			return std::unexpected(clear.error());
		t = std::move(*clear);
		how = "held no prefix of the list: restarted clear";
		prefix = 0;
	}
	for (std::size_t i = *prefix; i < records.size(); ++i)
		if (auto r = t->extend(records[i].pcr, records[i].digests); !r)
			return std::unexpected(r.error());
	std::lock_guard lock(mu_);
	resume_state_ = fmt::format("{}; {} of {} entries already in it, {} extended now", how,
				    *prefix, records.size(), records.size() - *prefix);
	records.clear();
	return t;
}

Result<std::unique_ptr<tpm::Tpm>> VirtualTpm::open()
{
	auto t = start_swtpm(false);
	if (!t)
		return std::unexpected(t.error());
	if (resume_) {
		t = catch_up(std::move(*t));
		if (!t)
			return std::unexpected(t.error());
	}
	auto id = (*t)->identity();
	if (!id)
		return std::unexpected(id.error());
	std::lock_guard lock(mu_);
	identity_ = std::move(*id);
	return std::move(*t);
}

std::optional<tpm::Identity> VirtualTpm::identity() const
{
	std::lock_guard lock(mu_);
	return identity_;
}

std::string VirtualTpm::error() const
{
	return state() == TpmExtender::State::failed ? extender_->last_error() : std::string();
}

pid_t VirtualTpm::pid() const
{
	std::lock_guard lock(mu_);
	return swtpm_ ? swtpm_->pid() : -1;
}

std::string VirtualTpm::resume_state() const
{
	std::lock_guard lock(mu_);
	return resume_state_;
}

} // namespace eima::agent
