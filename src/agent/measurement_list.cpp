#include "agent/measurement_list.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "ima/ascii_log.h"
#include "ima/binary_log.h"

namespace eima::agent {

namespace {

Result<UniqueFd> create_file(const std::string &path)
{
	int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(errno, "create", path);
	return UniqueFd(fd);
}

Result<void> write_all(int fd, const void *data, std::size_t size, const std::string &what)
{
	auto p = static_cast<const char *>(data);
	while (size > 0) {
		ssize_t n = ::write(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno, "write", what);
		p += n;
		size -= static_cast<std::size_t>(n);
	}
	return {};
}

} // namespace

Result<MeasurementList> MeasurementList::create(const std::string &dir,
						std::vector<ima::HashAlgo> banks)
{
	std::error_code ec;
	std::filesystem::create_directories(dir, ec);
	if (ec)
		return fail(ec.value(), "create directory", dir);
	MeasurementList list;
	list.dir_ = dir;
	list.banks_ = std::move(banks);
	auto ascii = create_file(dir + "/ascii_runtime_measurements");
	if (!ascii)
		return std::unexpected(ascii.error());
	auto binary = create_file(dir + "/binary_runtime_measurements");
	if (!binary)
		return std::unexpected(binary.error());
	list.ascii_fd_ = std::move(*ascii);
	list.binary_fd_ = std::move(*binary);
	return list;
}

Result<ExtendRecord> MeasurementList::append(const ima::TemplateEntry &entry)
{
	ExtendRecord rec{entry.pcr, {}};
	for (auto bank : banks_) {
		auto h = ima::template_hash(entry, bank);
		if (!h)
			return std::unexpected(h.error());
		auto &pcrs = pcrs_[bank];
		auto [it, fresh] = pcrs.try_emplace(entry.pcr, Bytes(ima::digest_size(bank), 0));
		Bytes both = it->second;
		both.insert(both.end(), h->begin(), h->end());
		auto next = ima::digest(bank, both);
		if (!next)
			return std::unexpected(next.error());
		it->second = std::move(*next);
		rec.digests.emplace_back(bank, std::move(*h));
	}
	if (auto r = ima::append_binary_entry(binary_pending_, entry); !r)
		return std::unexpected(r.error());
	if (auto r = ima::append_ascii_entry(ascii_pending_, entry); !r)
		return std::unexpected(r.error());
	++entries_;
	if (ima::is_violation(entry))
		++violations_;
	return rec;
}

Result<void> MeasurementList::flush()
{
	if (auto r = write_all(binary_fd_.get(), binary_pending_.data(), binary_pending_.size(),
			       dir_ + "/binary_runtime_measurements");
	    !r)
		return r;
	binary_pending_.clear();
	if (auto r = write_all(ascii_fd_.get(), ascii_pending_.data(), ascii_pending_.size(),
			       dir_ + "/ascii_runtime_measurements");
	    !r)
		return r;
	ascii_pending_.clear();
	return {};
}

std::map<std::uint32_t, Bytes> MeasurementList::replayed_pcrs(ima::HashAlgo bank) const
{
	auto it = pcrs_.find(bank);
	return it == pcrs_.end() ? std::map<std::uint32_t, Bytes>{} : it->second;
}

} // namespace eima::agent
