#include "bpfsign/signed_file.h"

#include <cerrno>

#include <fmt/format.h>

#include "common/file_io.h"

namespace eima::bpfsign {

SigningContext signing_context(SigningPath path, const std::string &cert)
{
	return {path, std::nullopt, cert, cert.empty() ? "" : enforce::signer_name(cert)};
}

Result<SignedFile> read_signed_file(const std::string &path)
{
	auto text = read_file(path);
	if (!text)
		return std::unexpected(text.error());
	SignedFile out;
	out.path = path;
	auto bytes = as_bytes(*text);
	out.bytes.assign(bytes.begin(), bytes.end());
	out.sha256 = sha256(out.bytes);
	auto object = parse_signed_object(out.bytes, path);
	if (!object)
		return std::unexpected(object.error());
	out.object = std::move(*object);
	// No check of the data's hash here on the native path: the signed loader makes it in
	// the kernel, which is what a load trusts. The trusted loader checks it, with the
	// signature, before it loads anything.
	auto manifest = read_loader_manifest(out.object.data);
	if (!manifest)
		return std::unexpected(manifest.error());
	out.manifest = std::move(*manifest);
	return out;
}

Result<PathLoad> load_signed_file(const SignedFile &file, const SigningContext &ctx)
{
	PathLoad out;
	Result<LoadedObject> loaded;
	if (ctx.path == SigningPath::native) {
		if (!ctx.keyring)
			return fail(EINVAL, "load " + file.path,
				    "no keyring to check its signature against (native path)");
		loaded = load_signed_object(file.object, file.manifest, ctx.keyring->serial,
					    file.path);
		out.how = fmt::format("with its signature (native: the kernel checked it, keyring {}",
				      ctx.keyring->serial);
	} else {
		if (ctx.cert.empty())
			return fail(EINVAL, "load " + file.path,
				    "this kernel cannot check BPF signatures (trusted-loader path): "
				    "give the certificate it was signed with");
		loaded = load_trusted_object(file.object, ctx.cert, file.path);
		out.how = fmt::format("as its trusted loader (trusted-loader: eima checked the "
				      "signature against {}",
				      ctx.cert);
	}
	if (!loaded)
		return std::unexpected(loaded.error());
	out.loaded = std::move(*loaded);
	return out;
}

} // namespace eima::bpfsign
