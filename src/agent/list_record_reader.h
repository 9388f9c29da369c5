// A binary list on disk as the source of the records a list-backed TPM extender reads back
// (tpm_extender.h): the host list's, and each container's for its vTPM.
#pragma once

#include <string>
#include <vector>

#include "agent/tpm_extender.h"
#include "ima/hash_algo.h"

namespace eima::agent {

// Records of the list at path by index, for the banks given. Reads go forward from a
// cursor; asking for an earlier index starts again from the list's beginning.
TpmExtender::RecordSource list_record_source(std::string path, std::vector<ima::HashAlgo> banks);

} // namespace eima::agent
