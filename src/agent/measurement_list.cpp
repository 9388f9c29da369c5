#include "agent/measurement_list.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "ima/ascii_log.h"
#include "ima/binary_log.h"
#include "agent/agent_log.h"
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

// Writes buf to fd and erases what was written, so that after a failure (ENOSPC, EIO) buf
// holds exactly the bytes still to write, and the next call goes on from there.
template <typename Buffer>
Result<void> write_out(int fd, Buffer &buf, const std::string &what)
{
	std::size_t off = 0;
	Result<void> r;
	while (off < buf.size()) {
		ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = fail(errno, "write", what);
			break;
		}
		off += static_cast<std::size_t>(n);
	}
	buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(off));
	return r;
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

Result<ExtendRecord> extend_record(const ima::TemplateEntry &entry,
				   const std::vector<ima::HashAlgo> &banks)
{
	ExtendRecord rec{entry.pcr, {}};
	for (auto bank : banks) {
		auto h = ima::template_hash(entry, bank);
		if (!h)
			return std::unexpected(h.error());
		rec.digests.emplace_back(bank, std::move(*h));
	}
	return rec;
}

Result<ExtendRecord> MeasurementList::append(const ima::TemplateEntry &entry)
{
	if (binary_pending_.size() + ascii_pending_.size() >= max_unwritten_) {
		// Kept in memory, it would grow for as long as the disk stays full: counted
		// instead, and said by a violation once there is room (record_lost).
		if (!lost_++) {
			lost_template_ = entry.template_name;
			auto d = ima::file_digest(entry);
			lost_algo_ = d && d->algo ? *d->algo : ima::HashAlgo::sha1;
			lost_pcr_ = entry.pcr;
			const char *name = write_errno_ ? ::strerrorname_np(write_errno_) : nullptr;
			lost_reason_ = name ? name : "write-failed";
		}
		++lost_total_;
		return fail(ENOSPC, "record entry",
			    dir_ + ": not written, the list's writes fail: " + write_error_);
	}
	auto rec = extend_record(entry, banks_);
	if (!rec)
		return std::unexpected(rec.error());
	for (auto &[bank, h] : rec->digests) {
		auto &pcrs = pcrs_[bank];
		auto [it, fresh] = pcrs.try_emplace(entry.pcr, Bytes(ima::digest_size(bank), 0));
		Bytes both = it->second;
		both.insert(both.end(), h.begin(), h.end());
		auto next = ima::digest(bank, both);
		if (!next)
			return std::unexpected(next.error());
		it->second = std::move(*next);
	}
	if (auto r = ima::append_binary_entry(binary_pending_, entry); !r)
		return std::unexpected(r.error());
	if (auto r = ima::append_ascii_entry(ascii_pending_, entry); !r)
		return std::unexpected(r.error());
	++entries_;
	if (ima::is_violation(entry))
		++violations_;
	return std::move(*rec);
}

Result<void> MeasurementList::flush()
{
	auto r = write_out(binary_fd_.get(), binary_pending_, binary_path());
	if (r)
		r = write_out(ascii_fd_.get(), ascii_pending_, dir_ + "/ascii_runtime_measurements");
	// Said once when writes start failing and once when they work again, not at every
	// flush (every few milliseconds while events come).
	if (!r && write_error_.empty())
		spdlog::error("{}; entries wait in memory (up to {} KiB), then are counted as lost",
			      r.error().message(), max_unwritten_ >> 10);
	else if (r && !write_error_.empty())
		spdlog::warn("{}: written again ({} entries lost meanwhile)", dir_, lost_);
	write_error_ = r ? std::string() : r.error().message();
	write_errno_ = r ? 0 : r.error().err;
	return r;
}

Result<std::optional<ExtendRecord>> MeasurementList::record_lost()
{
	if (!lost_ || !binary_pending_.empty() || !ascii_pending_.empty())
		return std::nullopt;
	auto v = ima::make_violation(lost_template_, lost_algo_,
				     fmt::format("eima-lost:{}:{}", lost_, lost_reason_), lost_pcr_);
	if (!v)
		return std::unexpected(v.error());
	std::uint64_t n = lost_;
	lost_ = 0; // room again: the violation itself is appended
	auto rec = append(*v);
	if (!rec) {
		lost_ = n;
		return std::unexpected(rec.error());
	}
	return std::optional(std::move(*rec));
}

std::map<std::uint32_t, Bytes> MeasurementList::replayed_pcrs(ima::HashAlgo bank) const
{
	auto it = pcrs_.find(bank);
	return it == pcrs_.end() ? std::map<std::uint32_t, Bytes>{} : it->second;
}

} // namespace eima::agent
