#include "agent/list_record_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include "common/unique_fd.h"
#include "ima/binary_log.h"

namespace eima::agent {

namespace {

// The records of a binary list on disk by index, read a chunk at a time from a cursor that
// moves forward (the extender reads in order; an earlier index starts again from 0): what
// the extender reads back when its queue in memory is full. Only entries already written
// are asked for, so a record cut by the chunk's end is only ever one to read further.
class ListRecordReader {
public:
	ListRecordReader(std::string path, std::vector<ima::HashAlgo> banks)
		: path_(std::move(path)), banks_(std::move(banks))
	{
	}

	Result<std::vector<ExtendRecord>> read(std::uint64_t from, std::size_t max)
	{
		if (from < index_)
			index_ = offset_ = 0;
		UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
		if (!fd)
			return fail(errno, "open", path_);
		std::vector<ExtendRecord> out;
		std::size_t chunk = 1 << 20;
		while (out.size() < max) {
			Bytes buf(chunk);
			ssize_t n = ::pread(fd.get(), buf.data(), chunk, static_cast<off_t>(offset_));
			if (n < 0)
				return fail(errno, "read", path_);
			if (n == 0)
				break;
			buf.resize(static_cast<std::size_t>(n));
			ima::BinaryLogReader reader(buf, ima::BinaryHeaderMode::kernel);
			ima::TemplateEntry e;
			std::size_t used = 0;
			while (out.size() < max) {
				auto more = reader.next(e);
				if (!more || !*more)
					break; // the chunk's end cut a record: read on from it
				used = reader.offset();
				if (index_++ >= from) {
					auto rec = extend_record(e, banks_);
					if (!rec)
						return std::unexpected(rec.error());
					out.push_back(std::move(*rec));
				}
			}
			offset_ += used;
			if (!used) {
				if (static_cast<std::size_t>(n) < chunk)
					break; // a torn end: nothing more that is whole
				if ((chunk *= 2) > (64u << 20))
					return fail(EFBIG, "read list", path_ + ": a record over 64 MiB");
			}
		}
		return out;
	}

private:
	std::string path_;
	std::vector<ima::HashAlgo> banks_;
	std::uint64_t index_ = 0, offset_ = 0; // entry index_ starts at byte offset_
};

} // namespace

TpmExtender::RecordSource list_record_source(std::string path, std::vector<ima::HashAlgo> banks)
{
	auto reader = std::make_shared<ListRecordReader>(std::move(path), std::move(banks));
	return [reader](std::uint64_t from, std::size_t max) { return reader->read(from, max); };
}

} // namespace eima::agent
