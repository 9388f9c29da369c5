#include "attest/log_verifier.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <system_error>
#include <thread>

#include "common/hex.h"
#include "common/unique_fd.h"
#include "ima/ascii_log.h"
#include "ima/binary_log.h"

namespace eima::attest
{

namespace
{

using PcrMap = std::map<ima::HashAlgo, ima::PcrValues>;

bool looks_ascii(std::string_view bytes)
{
	// An ascii list starts with a PCR number in decimal and a space; a binary one with a
	// little-endian u32 PCR, whose bytes are not digits.
	return bytes.size() >= 2 && ((bytes[0] >= '0' && bytes[0] <= '9') || bytes[0] == ' ');
}

// Entries of a parsed list, by reference.
class ParsedSource
{
public:
	explicit ParsedSource(const ima::UnverifiedLog &log) : log_(log) {}
	Result<const ima::TemplateEntry *> next()
	{
		return i_ < log_.entries.size() ? &log_.entries[i_++] : nullptr;
	}
	const ima::HeaderDigestFormat &header() const { return log_.header; }
	std::optional<std::span<const std::uint8_t>> raw_template_data(const ima::TemplateEntry &)
	{
		return std::nullopt;
	}

private:
	const ima::UnverifiedLog &log_;
	std::size_t i_ = 0;
};

// Entries parsed one at a time from a list's bytes into one reused entry.
class ByteSource
{
public:
	explicit ByteSource(std::string_view bytes)
	    : bytes_(bytes), ascii_(looks_ascii(bytes)),
	      reader_({reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size()})
	{
		if (!ascii_)
			header_ = reader_.header_format();
	}

	Result<const ima::TemplateEntry *> next()
	{
		if (!ascii_) {
			auto more = reader_.next(entry_);
			if (!more)
				return std::unexpected(more.error());
			return *more ? &entry_ : nullptr;
		}
		if (pos_ >= bytes_.size())
			return nullptr;
		std::size_t nl = bytes_.find('\n', pos_);
		std::size_t end = nl == std::string_view::npos ? bytes_.size() : nl;
		++line_no_;
		auto e = ima::parse_ascii_line(bytes_.substr(pos_, end - pos_), line_no_, header_,
					       line_no_ == 1);
		if (!e)
			return std::unexpected(e.error());
		entry_ = std::move(*e);
		pos_ = end + 1;
		return &entry_;
	}
	const ima::HeaderDigestFormat &header() const { return header_; }

	// The template data of the entry just read, as it lies in the file: in a binary record
	// it is the `u32 len | field` sequence that ends the record (not for 'ima', whose
	// hashed form pads the name). Hashing it in place saves rebuilding it.
	std::optional<std::span<const std::uint8_t>> raw_template_data(const ima::TemplateEntry &e)
	{
		if (ascii_ || ima::is_ima_template(e))
			return std::nullopt;
		std::size_t n = 0;
		for (auto &f : e.fields)
			n += 4 + f.size();
		const std::size_t end = reader_.offset();
		if (n > end)
			return std::nullopt;
		return std::span<const std::uint8_t>(
			reinterpret_cast<const std::uint8_t *>(bytes_.data()) + (end - n), n);
	}

private:
	std::string_view bytes_;
	bool ascii_;
	ima::BinaryLogReader reader_;
	ima::HeaderDigestFormat header_;
	ima::TemplateEntry entry_;
	std::size_t pos_ = 0, line_no_ = 0;
};

// Replay of one bank, compared with the given PCRs as it goes: after every entry it knows
// how many of the PCRs touched so far differ from the given values, so finding where the
// replay first matched costs O(1) per entry (the list's set of PCRs is only known at its
// end; see finish()).
class BankReplay
{
public:
	BankReplay(ima::Hasher h, const ima::PcrValues *given) : h_(std::move(h)), given_(given) {}

	ima::Hasher &hasher() { return h_; }
	ima::HashAlgo bank() const { return h_.algo(); }

	Result<void> extend(std::uint32_t pcr, std::span<const std::uint8_t> hash,
			    std::size_t index)
	{
		Slot *s = last_ && last_pcr_ == pcr ? last_ : nullptr;
		if (!s) {
			auto [it, inserted] = slots_.try_emplace(pcr);
			s = &it->second;
			if (inserted) {
				s->value.assign(h_.size(), 0);
				if (given_) {
					auto g = given_->find(pcr);
					s->given = g == given_->end() ? nullptr : &g->second;
				}
				touch_order_.push_back(pcr);
				++mismatched_; // s->match starts false
			}
			last_ = s;
			last_pcr_ = pcr;
		}
		h_.update(s->value);
		h_.update(hash.first(h_.size()));
		if (auto r = h_.finish(s->value); !r)
			return r;
		if (!given_)
			return {};
		bool match = s->given && *s->given == s->value;
		if (match != s->match) {
			s->match = match;
			match ? --mismatched_ : ++mismatched_;
		}
		if (mismatched_ == 0 &&
		    (candidates_.empty() || candidates_.back().touched != touch_order_.size()))
			candidates_.push_back({index, touch_order_.size()});
		return {};
	}

	void finish(std::size_t entries, LogReport &rep) const
	{
		auto &values = rep.replay[bank()];
		for (auto &[pcr, s] : slots_)
			values[pcr] = s.value;
		if (!given_)
			return;
		for (auto &[pcr, s] : slots_)
			if (!s.match)
				rep.pcr_mismatches[bank()].push_back(pcr);
		rep.pcr_match =
			rep.pcr_match.value_or(true) && !rep.pcr_mismatches.contains(bank());
		// A candidate is the first entry after which every PCR touched so far matched.
		// It is an early match when it is not the last entry and every PCR the rest of
		// the list touches first was given as zeros (its value at that point).
		const Bytes zeros(h_.size(), 0);
		for (auto &c : candidates_) {
			if (c.index + 1 >= entries)
				break;
			bool later_zero = std::all_of(
				touch_order_.begin() + static_cast<std::ptrdiff_t>(c.touched),
				touch_order_.end(), [&](std::uint32_t pcr) {
					auto g = given_->find(pcr);
					return g != given_->end() && g->second == zeros;
				});
			if (later_zero) {
				rep.early_match[bank()] = c.index;
				break;
			}
		}
	}

private:
	struct Slot {
		Bytes value;
		const Bytes *given = nullptr;
		bool match = false;
	};
	struct Candidate {
		std::size_t index;
		std::size_t touched;
	};
	ima::Hasher h_;
	const ima::PcrValues *given_;
	std::map<std::uint32_t, Slot> slots_; // map: node addresses stay valid for last_
	Slot *last_ = nullptr;
	std::uint32_t last_pcr_ = 0;
	std::vector<std::uint32_t> touch_order_;
	std::size_t mismatched_ = 0;
	std::vector<Candidate> candidates_;
};

// The bytes the template hash covers, built into a reused buffer so that one update per
// hash suffices (the 'ima' template pads its name and is rare: built the slow way).
void build_template_data(const ima::TemplateEntry &e, Bytes &out)
{
	if (ima::is_ima_template(e)) {
		out = ima::template_data(e);
		return;
	}
	out.clear();
	for (auto &f : e.fields) {
		const auto n = static_cast<std::uint32_t>(f.size());
		const std::uint8_t le[4] = {
			static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(n >> 8),
			static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 24)};
		out.insert(out.end(), le, le + 4);
		out.insert(out.end(), f.begin(), f.end());
	}
}

std::optional<ima::Hasher> make_hasher(ima::HashAlgo algo)
{
	auto h = ima::Hasher::create(algo);
	if (!h)
		return std::nullopt;
	return std::move(*h);
}

// Checks the header digest of a non-violation entry and leaves H_header(data) in `out`
// (header_algo's size). Decides the header algorithm at the first entry it sees.
class HeaderCheck
{
public:
	// nullopt: decided from the first entry's digest size.
	void set_typed(std::optional<ima::HashAlgo> typed)
	{
		if (typed && !algo_)
			choose(*typed);
	}
	std::optional<ima::HashAlgo> algo() const { return algo_; }

	// Returns an error text, or "" when the header digest is the template hash.
	std::string check(const ima::TemplateEntry &e, std::span<const std::uint8_t> data,
			  std::span<std::uint8_t, ima::max_digest_size> out)
	{
		const auto &stored = e.template_hash_sha1;
		if (!algo_) {
			if (stored.size() == ima::sha1_digest_size)
				choose(ima::HashAlgo::sha1);
			else
				return decide_by_size(stored, data, out);
		}
		if (!hasher_)
			return "no " + std::string(ima::hash_algo_name(*algo_)) +
			       " in this OpenSSL: header digest not checked";
		hasher_->update(data);
		if (auto r = hasher_->finish(out); !r)
			return r.error().message();
		const std::span<const std::uint8_t> want(out.data(), hasher_->size());
		if (stored.size() == want.size() &&
		    std::equal(want.begin(), want.end(), stored.begin()))
			return {};
		return "header digest " + to_hex(stored) + " is not the template hash " +
		       to_hex(want);
	}

private:
	void choose(ima::HashAlgo a)
	{
		algo_ = a;
		hasher_ = make_hasher(a);
	}

	// Bare hex of another size than SHA-1's: try every algorithm of that size.
	std::string decide_by_size(const Bytes &stored, std::span<const std::uint8_t> data,
				   std::span<std::uint8_t, ima::max_digest_size> out)
	{
		bool any = false;
		for (auto a : ima::all_hash_algos) {
			if (ima::digest_size(a) != stored.size())
				continue;
			any = true;
			auto h = make_hasher(a);
			if (!h)
				continue;
			h->update(data);
			if (!h->finish(out) ||
			    !std::equal(stored.begin(), stored.end(), out.begin()))
				continue;
			algo_ = a;
			hasher_ = std::move(h);
			return {};
		}
		return any ? "header digest " + to_hex(stored) +
				       " is the template hash of no algorithm of its size"
			   : "header digest of " + std::to_string(stored.size()) +
				       " bytes: no algorithm has that size";
	}

	std::optional<ima::HashAlgo> algo_;
	std::optional<ima::Hasher> hasher_;
};

// One pass over a list. `checks`: count entries, templates and violations and check header
// digests (one pass per report does). The banks replayed are `banks`; the header's SHA-1
// is reused for the sha1 bank instead of hashing the data twice.
template <class Source>
void run_pass(Source &src, std::span<const ima::HashAlgo> banks, const PcrMap &pcrs, bool checks,
	      LogReport &rep)
{
	std::vector<BankReplay> replays;
	for (auto bank : banks) {
		auto h = make_hasher(bank);
		if (!h)
			continue; // OpenSSL without it (SM3 in a FIPS build): no replay of that
				  // bank
		auto g = pcrs.find(bank);
		replays.emplace_back(std::move(*h), g == pcrs.end() ? nullptr : &g->second);
	}
	HeaderCheck header;
	Bytes built;
	alignas(8) std::uint8_t header_hash[ima::max_digest_size];
	alignas(8) std::uint8_t hash[ima::max_digest_size];
	const std::string *last_template = nullptr;
	std::size_t *last_count = nullptr;
	std::size_t index = 0;
	for (;; ++index) {
		auto next = src.next();
		if (!next) {
			if (checks)
				rep.parse_error = next.error().message();
			break;
		}
		if (!*next)
			break;
		const ima::TemplateEntry &e = **next;
		if (index == 0)
			header.set_typed(src.header().typed);
		const bool violation = ima::is_violation(e);
		bool have_header_hash = false;
		std::span<const std::uint8_t> data;
		if (!violation) {
			if (auto raw = src.raw_template_data(e)) {
				data = *raw;
			} else {
				build_template_data(e, built);
				data = built;
			}
		}
		if (checks) {
			if (!last_template || *last_template != e.template_name) {
				auto it = rep.templates.try_emplace(e.template_name, 0).first;
				last_template = &it->first;
				last_count = &it->second;
			}
			++*last_count;
			if (violation) {
				++rep.violations;
			} else {
				auto why = header.check(e, data, header_hash);
				if (why.empty())
					have_header_hash = true;
				else
					rep.template_hash_errors.emplace_back(index,
									      std::move(why));
			}
		}
		for (auto &r : replays) {
			const std::size_t size = r.hasher().size();
			std::span<const std::uint8_t> th(hash, size);
			if (violation) {
				std::fill_n(hash, size, std::uint8_t{0xff});
			} else if (have_header_hash && header.algo() == r.bank()) {
				th = std::span<const std::uint8_t>(header_hash, size);
			} else {
				r.hasher().update(data);
				if (auto x = r.hasher().finish(std::span(hash, size)); !x) {
					if (checks)
						rep.parse_error = x.error().message();
					return;
				}
			}
			if (auto x = r.extend(e.pcr, th, index); !x) {
				if (checks)
					rep.parse_error = x.error().message();
				return;
			}
		}
	}
	if (checks) {
		rep.entries = index;
		if (index == 0 && !rep.parse_error)
			rep.parse_error =
				"the list has no entries (a kernel's starts with boot_aggregate)";
	}
	for (auto &r : replays)
		r.finish(index, rep);
}

// Replays banks over a binary list walking its records without parsing their fields (the
// other pass parses and checks them): the template data is the tail of each record, hashed
// in place. Returns the number of entries replayed, or nullopt when the walk cannot stand
// in for a full pass: an ascii list, an 'ima' record (hashed padded), or a record whose
// lengths do not add up (the full pass names the error).
std::optional<std::size_t> walk_binary(std::string_view text, std::span<const ima::HashAlgo> banks,
				       const PcrMap &pcrs, LogReport &rep)
{
	if (looks_ascii(text))
		return std::nullopt;
	const std::span<const std::uint8_t> bytes(
		reinterpret_cast<const std::uint8_t *>(text.data()), text.size());
	const auto typed = ima::BinaryLogReader(bytes).header_format().typed;
	std::vector<BankReplay> replays;
	for (auto bank : banks) {
		auto h = make_hasher(bank);
		if (!h)
			continue;
		auto g = pcrs.find(bank);
		replays.emplace_back(std::move(*h), g == pcrs.end() ? nullptr : &g->second);
	}
	auto u32 = [&](std::size_t at) {
		return static_cast<std::uint32_t>(bytes[at]) |
		       static_cast<std::uint32_t>(bytes[at + 1]) << 8 |
		       static_cast<std::uint32_t>(bytes[at + 2]) << 16 |
		       static_cast<std::uint32_t>(bytes[at + 3]) << 24;
	};
	alignas(8) std::uint8_t hash[ima::max_digest_size];
	std::size_t off = 0, index = 0;
	for (; off < bytes.size(); ++index) {
		// Every length is checked against what remains before it is used.
		std::size_t left = bytes.size() - off;
		if (left < 8)
			return std::nullopt;
		const std::uint32_t pcr = u32(off);
		std::size_t at = off + 4;
		std::size_t hsize = ima::sha1_digest_size;
		if (typed) {
			hsize = u32(at);
			at += 4;
			if (hsize > ima::max_digest_size)
				return std::nullopt;
		}
		if (bytes.size() - at < hsize + 4)
			return std::nullopt;
		const auto header = bytes.subspan(at, hsize);
		at += hsize;
		const std::uint32_t name_len = u32(at);
		at += 4;
		if (name_len == 0 || name_len > ima::template_name_len_max ||
		    bytes.size() - at < name_len + 4)
			return std::nullopt;
		if (name_len == 3 && std::memcmp(bytes.data() + at, "ima", 3) == 0)
			return std::nullopt;
		at += name_len;
		const std::uint32_t data_len = u32(at);
		at += 4;
		if (bytes.size() - at < data_len)
			return std::nullopt;
		const auto data = bytes.subspan(at, data_len);
		off = at + data_len;
		const bool violation = std::all_of(header.begin(), header.end(),
						   [](std::uint8_t b) { return b == 0; });
		for (auto &r : replays) {
			const std::size_t size = r.hasher().size();
			if (violation) {
				std::fill_n(hash, size, std::uint8_t{0xff});
			} else {
				r.hasher().update(data);
				if (!r.hasher().finish(std::span(hash, size)))
					return std::nullopt;
			}
			if (!r.extend(pcr, std::span<const std::uint8_t>(hash, size), index))
				return std::nullopt;
		}
	}
	for (auto &r : replays)
		r.finish(index, rep);
	return index;
}

std::vector<ima::HashAlgo> banks_of(const PcrMap &pcrs)
{
	std::vector<ima::HashAlgo> banks{ima::HashAlgo::sha1, ima::HashAlgo::sha256};
	for (auto &[bank, values] : pcrs)
		if (std::find(banks.begin(), banks.end(), bank) == banks.end())
			banks.push_back(bank);
	return banks;
}

// Folds the replay results of a second pass into the first's report.
void merge_banks(LogReport &into, LogReport &&from)
{
	into.replay.merge(from.replay);
	into.pcr_mismatches.merge(from.pcr_mismatches);
	into.early_match.merge(from.early_match);
	if (from.pcr_match)
		into.pcr_match = into.pcr_match.value_or(true) && *from.pcr_match;
}

} // namespace

Result<ima::UnverifiedLog> read_any_log(std::string_view bytes, const std::string &source)
{
	bool ascii = looks_ascii(bytes);
	auto log =
		ascii ? ima::read_ascii_log(bytes)
		      : ima::read_binary_log({reinterpret_cast<const std::uint8_t *>(bytes.data()),
					      bytes.size()});
	if (!log) {
		Error e = log.error();
		e.context = source + (e.context.empty() ? "" : ": " + e.context);
		return std::unexpected(e);
	}
	return log;
}

LogReport verify_log(const ima::UnverifiedLog &log, const PcrMap &pcrs)
{
	LogReport rep;
	ParsedSource src(log);
	auto banks = banks_of(pcrs);
	run_pass(src, banks, pcrs, true, rep);
	return rep;
}

LogReport verify_log_bytes(std::string_view bytes, const PcrMap &pcrs)
{
	LogReport rep;
	auto banks = banks_of(pcrs);
	// Hashing dominates (two digests per entry and bank): with a second CPU, the sha1 bank
	// and the header checks run here and the other banks on a thread of their own. Small
	// lists are not worth a thread.
	constexpr std::size_t thread_threshold = 4u << 20;
	if (bytes.size() >= thread_threshold && std::thread::hardware_concurrency() >= 2) {
		std::span<const ima::HashAlgo> first(banks.data(), 1),
			rest(banks.data() + 1, banks.size() - 1);
		LogReport other;
		std::optional<std::size_t> walked;
		std::optional<std::thread> worker;
		try {
			worker.emplace([&] { walked = walk_binary(bytes, rest, pcrs, other); });
		} catch (const std::system_error &) {
			worker.reset(); // no thread to be had: run both passes here
		}
		ByteSource src(bytes);
		run_pass(src, first, pcrs, true, rep);
		if (worker)
			worker->join();
		// The walk must have replayed exactly the entries the full pass accepted; after a
		// parse error or a record it could not walk, the banks are replayed by a full pass
		// that stops where the first one did.
		if (!walked || *walked != rep.entries || rep.parse_error) {
			other = LogReport{};
			ByteSource again(bytes);
			run_pass(again, rest, pcrs, false, other);
		}
		merge_banks(rep, std::move(other));
		return rep;
	}
	ByteSource src(bytes);
	run_pass(src, banks, pcrs, true, rep);
	return rep;
}

Result<LogReport> verify_log_file(const std::string &path, const PcrMap &pcrs)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (!fd)
		return fail(errno, "open", path);
	struct stat st {
	};
	if (::fstat(fd.get(), &st) != 0)
		return fail(errno, "stat", path);
	if (!S_ISREG(st.st_mode))
		return fail(EINVAL, "verify measurement list", path + ": not a regular file");
	LogReport rep;
	const auto size = static_cast<std::size_t>(st.st_size);
	if (size == 0) {
		rep.parse_error = path + ": the file is empty";
		return rep;
	}
	// A file mapping costs address space, not memory: a list larger than RAM verifies.
	void *p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
	if (p == MAP_FAILED)
		return fail(errno, "mmap", path);
	::madvise(p, size, MADV_SEQUENTIAL);
	rep = verify_log_bytes({static_cast<const char *>(p), size}, pcrs);
	::munmap(p, size);
	if (rep.parse_error)
		rep.parse_error = path + ": " + *rep.parse_error;
	return rep;
}

std::string LogReport::first_failure() const
{
	if (parse_error)
		return "parse";
	if (!template_hash_errors.empty())
		return "template_hash";
	if (!early_match.empty())
		return "appended_entries";
	if (!pcr_match.value_or(true))
		return "pcr_replay";
	if (!policy_failures.empty())
		return "policy";
	return {};
}

nlohmann::json policy_failures_json(const std::vector<PolicyFailure> &failures)
{
	auto out = nlohmann::json::array();
	for (auto &f : failures)
		out.push_back({{"entry", f.entry}, {"path", f.path}, {"digest", f.digest},
			       {"reason", f.reason}});
	return out;
}

nlohmann::json LogReport::to_json() const
{
	nlohmann::json j;
	j["entries"] = entries;
	j["templates"] = templates;
	j["violations"] = violations;
	j["template_hash_errors"] = nlohmann::json::array();
	for (auto &[i, why] : template_hash_errors)
		j["template_hash_errors"].push_back({{"entry", i}, {"error", why}});
	for (auto &[bank, values] : replay)
		for (auto &[pcr, v] : values)
			j["replay"][std::string(ima::hash_algo_name(bank))][std::to_string(pcr)] =
				to_hex(v);
	j["pcr_match"] = pcr_match ? nlohmann::json(*pcr_match) : nlohmann::json(nullptr);
	if (parse_error)
		j["parse_error"] = *parse_error;
	// Verdicts in the order the checks apply; "skipped" for the PCR checks without PCRs.
	const char *pcr_verdict = pcr_match ? "pass" : "skipped";
	j["checks"] = {
		{"parse", parse_error ? "fail" : "pass"},
		{"template_hash", template_hash_errors.empty() ? "pass" : "fail"},
		{"appended_entries", early_match.empty() ? pcr_verdict : "fail"},
		{"pcr_replay", pcr_match.value_or(true) ? pcr_verdict : "fail"},
	};
	auto first = first_failure();
	j["first_failure"] = first.empty() ? nlohmann::json(nullptr) : nlohmann::json(first);
	for (auto &[bank, list] : pcr_mismatches)
		j["pcr_mismatches"][std::string(ima::hash_algo_name(bank))] = list;
	for (auto &[bank, i] : early_match)
		j["early_match"][std::string(ima::hash_algo_name(bank))] = i;
	j["policy_failures"] = policy_failures_json(policy_failures);
	j["ok"] = ok();
	return j;
}

} // namespace eima::attest
