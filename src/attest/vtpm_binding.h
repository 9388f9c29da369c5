// The record that binds a container's vTPM to the host TPM. When eimad creates a container's
// vTPM it appends an ima-buf entry to the host list, on the host's container PCR (11):
//
//   name   "eima-vtpm:<container id>"
//   buffer {"ak":PEM,"container":ID,"ek":PEM,"format":"eima-vtpm-binding","mntns":N,
//           "version":1}   (compact JSON, keys sorted, as nlohmann::json::dump() writes)
//
// A verifier that trusts the host TPM's AK, and has checked a host quote and the host list
// it covers, can then trust a quote signed by that AK for that container: a vTPM cannot be
// swapped without a second binding entry for the same id showing in the host list.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/hex.h"

namespace eima::attest
{

inline constexpr std::string_view vtpm_binding_prefix = "eima-vtpm:";
inline constexpr std::string_view vtpm_binding_format = "eima-vtpm-binding";

struct VtpmBinding {
	std::string container;
	std::string ek_pem; // the vTPM's endorsement key, SubjectPublicKeyInfo PEM
	std::string ak_pem; // the key that signs its quotes, SubjectPublicKeyInfo PEM
	std::uint64_t mntns = 0;

	bool operator==(const VtpmBinding &) const = default;
};

// "eima-vtpm:<id>": the ima-buf entry's event name.
std::string vtpm_binding_name(std::string_view container);
// The container id of an event name, or empty when it is not a binding's.
std::string_view vtpm_binding_container(std::string_view event_name);

Bytes vtpm_binding_buffer(const VtpmBinding &b);
// Errors name `where` (e.g. "host list entry 7") and what is wrong.
Result<VtpmBinding> parse_vtpm_binding(std::span<const std::uint8_t> buffer,
				       const std::string &where);

} // namespace eima::attest
