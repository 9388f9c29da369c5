#include "agent/measurement_list.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "ima/ascii_log.h"
#include "ima/binary_log.h"
#include "common/file_io.h"

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

Result<ResumedList> MeasurementList::resume(const std::string &dir,
					     std::vector<ima::HashAlgo> banks)
{
	std::string binary_path = dir + "/binary_runtime_measurements";
	auto bytes = read_file(binary_path);
	if (!bytes)
		return std::unexpected(bytes.error());
	ima::BinaryLogReader reader(as_bytes(*bytes), ima::BinaryHeaderMode::kernel);
	ResumedList out{MeasurementList(), {}, 0};
	MeasurementList &list = out.list;
	list.dir_ = dir;
	list.banks_ = std::move(banks);
	ima::TemplateEntry entry;
	std::size_t good = 0; // bytes of complete records
	for (;;) {
		auto more = reader.next(entry);
		if (!more) {
			// eimad writes whole records, so a kill mid-write leaves a prefix of one at
			// the end. Whatever fails to parse is cut off here (and kept beside the list);
			// if it was damage rather than a torn write, the list then holds fewer
			// entries than the TPM and the caller starts a new one.
			out.torn_reason = more.error().message();
			break;
		}
		if (!*more)
			break;
		auto rec = list.append(entry);
		if (!rec)
			return fail("resume list", binary_path + ": entry " +
							   std::to_string(reader.index() - 1) + ": " +
							   rec.error().message());
		out.records.push_back(std::move(*rec));
		good = reader.offset();
	}
	out.torn_bytes = bytes->size() - good;
	if (out.torn_bytes)
		if (auto w = write_file(binary_path + ".torn",
					as_bytes(std::string_view(*bytes).substr(good)));
		    !w)
			return std::unexpected(w.error());
	// The pending buffers hold the whole list now; the binary one is already on disk.
	list.binary_pending_.clear();
	if (::truncate(binary_path.c_str(), static_cast<off_t>(good)) != 0)
		return fail(errno, "truncate", binary_path);
	std::string ascii_path = dir + "/ascii_runtime_measurements";
	std::string tmp = ascii_path + ".resume";
	if (auto w = write_file(tmp, list.ascii_pending_); !w)
		return std::unexpected(w.error());
	if (::rename(tmp.c_str(), ascii_path.c_str()) != 0)
		return fail(errno, "rename", tmp);
	list.ascii_pending_.clear();
	auto open_append = [](const std::string &path) -> Result<UniqueFd> {
		int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			return fail(errno, "open", path);
		return UniqueFd(fd);
	};
	auto ascii = open_append(ascii_path);
	if (!ascii)
		return std::unexpected(ascii.error());
	auto binary = open_append(binary_path);
	if (!binary)
		return std::unexpected(binary.error());
	list.ascii_fd_ = std::move(*ascii);
	list.binary_fd_ = std::move(*binary);
	return out;
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
