#include "agent/virtual_tpm.h"

#include <filesystem>

namespace eima::agent {

VirtualTpm::VirtualTpm(std::string state_dir) : state_dir_(std::move(state_dir))
{
	extender_ = std::make_unique<TpmExtender>([this] { return open(); });
}

VirtualTpm::~VirtualTpm()
{
	extender_.reset(); // drains; swtpm is still up
	swtpm_.reset();
	std::error_code ec;
	std::filesystem::remove_all(state_dir_, ec);
}

Result<std::unique_ptr<tpm::Tpm>> VirtualTpm::open()
{
	// On the extender's thread, which lives as long as swtpm must: swtpm's parent-death
	// signal follows the thread that started it (tpm/swtpm.h).
	auto sw = tpm::Swtpm::start(state_dir_);
	if (!sw)
		return std::unexpected(sw.error());
	auto t = tpm::Tpm::open((*sw)->tcti());
	if (!t)
		return std::unexpected(t.error());
	auto id = t->identity();
	if (!id)
		return std::unexpected(id.error());
	std::lock_guard lock(mu_);
	swtpm_ = std::move(*sw);
	identity_ = std::move(*id);
	return std::make_unique<tpm::Tpm>(std::move(*t));
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

} // namespace eima::agent
