// SPDX 2.x JSON and CycloneDX 1.x JSON through nlohmann's SAX interface: no DOM, one frame
// per open object or array, each file entry handed on when its object closes.
//
// The format is known only once "spdxVersion" or "bomFormat" is seen, and real documents
// put it anywhere (the Microsoft SBOM tool writes "files" first), so one handler reads both:
// the keys it follows do not collide (SPDX: top-level "packages" and "files"; CycloneDX:
// top-level "components", nested ones, "metadata.component"). The verdict comes at the end.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "sbom/sbom_readers.h"

namespace eima::sbom::detail {
namespace {

using nlohmann::json;

enum class Node : std::uint8_t {
	other,
	root,
	metadata,
	metadata_component,
	packages,
	package,
	files,
	file,         // SPDX file
	checksums,    // SPDX file's checksums
	checksum,     // {algorithm, checksumValue}
	components,   // CycloneDX, top level or nested
	component,
	hashes,       // CycloneDX component's hashes
	hash,         // {alg, content}
	has_files,    // SPDX package's "hasFiles": file SPDXIDs
	relationships, // SPDX top-level "relationships"
	relationship, // {spdxElementId, relationshipType, relatedSpdxElement}
};

// One CycloneDX component or SPDX file being read; components nest, so these stack.
struct Entry {
	SbomFile file;
	std::string type; // CycloneDX component type ("file" makes it a file entry)
	std::string name;
	std::string version;
	bool is_component = false;
};

class Handler {
public:
	Handler(SbomSummary &s, const SbomSinks &sinks, const SbomInput &in)
		: s_(s), sinks_(sinks), in_(in)
	{
	}

	std::optional<std::string> limit_error; // set when depth ran out
	bool saw_spdx = false, saw_cyclonedx = false;
	std::string bom_format; // "bomFormat" as written, to name it when it is not CycloneDX

	bool null() { return scalar(); }
	bool boolean(bool) { return scalar(); }
	bool number_integer(json::number_integer_t) { return scalar(); }
	bool number_unsigned(json::number_unsigned_t) { return scalar(); }
	bool number_float(json::number_float_t, const json::string_t &) { return scalar(); }
	bool binary(json::binary_t &) { return scalar(); }

	bool key(json::string_t &k)
	{
		key_ = std::move(k);
		return true;
	}

	bool string(json::string_t &v)
	{
		switch (top()) {
		case Node::root:
			if (key_ == "spdxVersion") {
				saw_spdx = true;
				s_.spec_version = v;
				spdx_version_at_ = value_end();
			} else if (key_ == "bomFormat") {
				saw_cyclonedx = true;
				bom_format = v;
				bom_format_at_ = value_end();
			} else if (key_ == "specVersion") {
				cdx_spec_version_ = v;
				cdx_spec_version_at_ = value_end();
			} else if (key_ == "name") {
				spdx_name_ = v;
			}
			break;
		case Node::metadata_component:
			if (key_ == "name")
				cdx_name_ = v;
			break;
		case Node::file:
			if (key_ == "fileName")
				entries_.back().file.path = std::move(v);
			else if (key_ == "SPDXID")
				entries_.back().file.id = std::move(v);
			break;
		case Node::component:
			if (key_ == "type")
				entries_.back().type = std::move(v);
			else if (key_ == "name")
				entries_.back().name = std::move(v);
			else if (key_ == "version")
				entries_.back().version = std::move(v);
			else if (key_ == "bom-ref")
				entries_.back().file.id = std::move(v);
			break;
		case Node::package:
			if (key_ == "SPDXID")
				package_.id = std::move(v);
			else if (key_ == "name")
				package_.name = std::move(v);
			else if (key_ == "versionInfo")
				package_.version = std::move(v);
			break;
		case Node::has_files:
			if (sinks_.on_package)
				package_.file_ids.push_back(std::move(v));
			break;
		case Node::relationship:
			if (key_ == "spdxElementId")
				rel_from_ = std::move(v);
			else if (key_ == "relationshipType")
				rel_type_ = std::move(v);
			else if (key_ == "relatedSpdxElement")
				rel_to_ = std::move(v);
			break;
		case Node::checksum:
			if (key_ == "algorithm")
				algo_ = std::move(v);
			else if (key_ == "checksumValue")
				value_ = std::move(v);
			break;
		case Node::hash:
			if (key_ == "alg")
				algo_ = std::move(v);
			else if (key_ == "content")
				value_ = std::move(v);
			break;
		default:
			break;
		}
		return scalar();
	}

	bool start_object(std::size_t)
	{
		Node parent = frames_.empty() ? Node::other : top();
		Node n = Node::other;
		if (frames_.empty())
			n = Node::root;
		else if (parent == Node::root && key_ == "metadata")
			n = Node::metadata;
		else if (parent == Node::metadata && key_ == "component")
			n = Node::metadata_component;
		else if (parent == Node::packages)
			n = Node::package;
		else if (parent == Node::files)
			n = Node::file;
		else if (parent == Node::checksums)
			n = Node::checksum;
		else if (parent == Node::components)
			n = Node::component;
		else if (parent == Node::hashes)
			n = Node::hash;
		else if (parent == Node::relationships)
			n = Node::relationship;
		if (n == Node::package) {
			++packages_;
			package_ = {};
		}
		if (n == Node::relationship)
			rel_from_.clear(), rel_type_.clear(), rel_to_.clear();
		if (n == Node::file || n == Node::component)
			entries_.push_back(Entry{.is_component = n == Node::component});
		if (n == Node::checksum || n == Node::hash) {
			algo_.clear();
			value_.clear();
		}
		return push(n);
	}

	bool end_object()
	{
		Node n = top();
		frames_.pop_back();
		if (n == Node::checksum || n == Node::hash) {
			if (!entries_.empty() && (!algo_.empty() || !value_.empty()))
				add_digest(entries_.back().file, algo_, value_);
		} else if (n == Node::file || n == Node::component) {
			Entry e = std::move(entries_.back());
			entries_.pop_back();
			if (e.is_component) {
				++s_.components;
				// Newer syft writes each file as a component of type "file" named by
				// its path.
				if (e.type == "file") {
					e.file.path = std::move(e.name);
					if (!entries_.empty() && entries_.back().is_component &&
					    entries_.back().type != "file")
						e.file.package_id = component_id(entries_.back());
					emit(std::move(e.file));
				} else if (sinks_.on_package) {
					std::string id = component_id(e);
					sinks_.on_package(SbomPackage{.id = std::move(id),
								      .name = std::move(e.name),
								      .version = std::move(e.version)});
				}
			} else {
				emit(std::move(e.file));
			}
		} else if (n == Node::package) {
			if (sinks_.on_package) {
				if (package_.id.empty())
					package_.id = package_.name;
				sinks_.on_package(std::move(package_));
			}
			package_ = {};
		} else if (n == Node::relationship && sinks_.on_contains) {
			if (rel_type_ == "CONTAINS")
				sinks_.on_contains({std::move(rel_from_), std::move(rel_to_)});
			else if (rel_type_ == "CONTAINED_BY")
				sinks_.on_contains({std::move(rel_to_), std::move(rel_from_)});
		}
		return true;
	}

	bool start_array(std::size_t)
	{
		Node parent = frames_.empty() ? Node::other : top();
		Node n = Node::other;
		if (parent == Node::root && key_ == "packages")
			n = Node::packages;
		else if (parent == Node::root && key_ == "files")
			n = Node::files;
		else if ((parent == Node::root || parent == Node::component) && key_ == "components")
			n = Node::components;
		else if (parent == Node::file && key_ == "checksums")
			n = Node::checksums;
		else if (parent == Node::component && key_ == "hashes")
			n = Node::hashes;
		else if (parent == Node::package && key_ == "hasFiles")
			n = Node::has_files;
		else if (parent == Node::root && key_ == "relationships")
			n = Node::relationships;
		return push(n);
	}

	bool end_array()
	{
		frames_.pop_back();
		return true;
	}

	bool parse_error(std::size_t position, const std::string &, const nlohmann::detail::exception &ex)
	{
		// position counts the characters read, the offending one included.
		error_offset = position ? position - 1 : 0;
		// "[json.exception.parse_error.101] parse error at line 1, column 5: why": the
		// caller names the place itself, in the same words as every other reader.
		error_what = ex.what();
		if (auto at = error_what.find("column "); at != std::string::npos)
			if (auto colon = error_what.find(": ", at); colon != std::string::npos)
				error_what.erase(0, colon + 2);
		return false;
	}

	std::optional<std::uint64_t> error_offset;
	std::string error_what;

	// Fills the summary's identity once the whole document is read. A verdict on a value
	// names where the value was (its closing quote), as every other error names its place.
	Result<void> finish(const std::string &path)
	{
		auto at = [&](std::uint64_t offset) {
			auto [line, column] = in_.line_of(offset);
			return fmt::format("{}:{}:{} (offset {})", path, line, column, offset);
		};
		if (saw_spdx) {
			s_.format = Format::spdx;
			s_.name = spdx_name_;
			s_.packages = packages_;
			if (!s_.spec_version.starts_with("SPDX-2."))
				return fail("unsupported SPDX version",
					    fmt::format("{}: spdxVersion \"{}\" (eima reads SPDX-2.x)",
							at(spdx_version_at_), s_.spec_version));
		} else if (saw_cyclonedx) {
			s_.format = Format::cyclonedx;
			s_.spec_version = cdx_spec_version_;
			s_.name = cdx_name_;
			if (bom_format != "CycloneDX")
				return fail("not an SBOM", fmt::format("{}: bomFormat \"{}\" is not CycloneDX",
									at(bom_format_at_), bom_format));
			if (!cdx_spec_version_at_)
				return fail("unsupported CycloneDX version",
					    fmt::format("{}: CycloneDX without a specVersion",
							at(bom_format_at_)));
			if (!s_.spec_version.starts_with("1."))
				return fail("unsupported CycloneDX version",
					    fmt::format("{}: specVersion \"{}\" (eima reads 1.x)",
							at(cdx_spec_version_at_), s_.spec_version));
		} else {
			return fail("not an SBOM",
				    fmt::format("{}: JSON without \"spdxVersion\" (SPDX) or \"bomFormat\" "
						"(CycloneDX)", path));
		}
		return {};
	}

private:
	Node top() const { return frames_.back(); }

	bool push(Node n)
	{
		if (frames_.size() >= max_depth) {
			limit_error = fmt::format("nesting deeper than {} levels", max_depth);
			return false;
		}
		frames_.push_back(n);
		return true;
	}

	// The offset of the closing quote of the string value just read: the lexer has read
	// up to and including it.
	std::uint64_t value_end() const
	{
		auto n = in_.consumed();
		return n ? n - 1 : 0;
	}

	// A scalar consumed the key it belonged to.
	bool scalar()
	{
		key_.clear();
		return true;
	}

	void emit(SbomFile &&f)
	{
		count_file(s_, f);
		if (sinks_.on_file)
			sinks_.on_file(std::move(f));
	}

	static std::string component_id(const Entry &e)
	{
		return e.file.id.empty() ? e.name : e.file.id;
	}

	SbomSummary &s_;
	const SbomSinks &sinks_;
	const SbomInput &in_;
	// The SPDX package being read (packages do not nest) and the relationship.
	SbomPackage package_;
	std::string rel_from_, rel_type_, rel_to_;
	std::uint64_t spdx_version_at_ = 0, bom_format_at_ = 0, cdx_spec_version_at_ = 0;
	std::vector<Node> frames_;
	std::vector<Entry> entries_;
	std::string key_, algo_, value_;
	std::string spdx_name_, cdx_name_, cdx_spec_version_;
	std::size_t packages_ = 0;
};

} // namespace

Result<SbomSummary> read_json_sbom(SbomInput &in, const SbomSinks &sinks)
{
	SbomSummary s;
	s.encoding = Encoding::json;
	Handler h(s, sinks, in);
	std::istream stream(&in);
	bool ok = false;
	try {
		ok = json::sax_parse(stream, &h, json::input_format_t::json, true, false);
	} catch (const std::exception &e) {
		// The SAX parser reports through parse_error; anything thrown is unexpected
		// (allocation), still reported rather than let through.
		return fail("parse SBOM", fmt::format("{}: {}", in.path(), e.what()));
	}
	s.bytes = in.consumed();
	if (in.error())
		return std::unexpected(*in.error());
	if (!ok) {
		std::uint64_t offset = h.error_offset ? *h.error_offset : in.consumed();
		auto [line, column] = in.line_of(offset);
		std::string why = h.limit_error ? *h.limit_error : h.error_what;
		return fail("parse SBOM", fmt::format("{}:{}:{} (offset {}): {}", in.path(), line,
						      column, offset, why));
	}
	// nlohmann's lexer takes a NUL byte between tokens for the end of input: what follows
	// one would go unread, so a document could hide entries behind it.
	if (in.sgetc() != std::streambuf::traits_type::eof()) {
		std::uint64_t offset = in.consumed() - 1;
		auto [line, column] = in.line_of(offset);
		return fail("parse SBOM", fmt::format("{}:{}:{} (offset {}): a NUL byte, and more "
						      "after it", in.path(), line, column, offset));
	}
	if (in.error())
		return std::unexpected(*in.error());
	if (auto f = h.finish(in.path()); !f)
		return std::unexpected(f.error());
	return s;
}

} // namespace eima::sbom::detail
