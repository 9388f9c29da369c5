#include "agent/prometheus_text.h"

#include <fmt/format.h>

#include <cstdint>
#include <map>

#include "common/json_text.h"

namespace eima::agent {

namespace {

using nlohmann::json;

// One metric family: HELP and TYPE once, then its samples.
class Family {
public:
	Family(std::string &out, std::string_view name, std::string_view type, std::string_view help)
		: out_(out), name_(name)
	{
		out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
	}
	void sample(double value, std::string_view labels = {})
	{
		out_ += labels.empty() ? fmt::format("{} {}\n", name_, value)
				       : fmt::format("{}{{{}}} {}\n", name_, labels, value);
	}

private:
	std::string &out_;
	std::string name_;
};

// A number of status (or of an object in it) as a sample of a new family, when present.
void scalar(std::string &out, const json &obj, const char *key, std::string_view name,
	    std::string_view type, std::string_view help, double scale = 1)
{
	auto it = obj.find(key);
	if (it == obj.end() || !it->is_number())
		return;
	Family(out, name, type, help).sample(it->get<double>() * scale);
}

std::string label(std::string_view name, const json &obj, const char *key)
{
	auto it = obj.find(key);
	std::string v = it != obj.end() && it->is_string() ? it->get<std::string>() : "";
	return fmt::format("{}=\"{}\"", name, prometheus_label_value(v));
}

} // namespace

std::string prometheus_label_value(const std::string &value)
{
	std::string out;
	out.reserve(value.size());
	for (std::size_t i = 0; i < value.size();) {
		if (std::size_t n = utf8_sequence_length(value, i)) {
			for (std::size_t k = 0; k < n; ++k, ++i) {
				char c = value[i];
				if (c == '\\')
					out += "\\\\";
				else if (c == '"')
					out += "\\\"";
				else if (c == '\n')
					out += "\\n";
				else
					out += c;
			}
		} else { // not UTF-8: json_text's \udcXX, its backslash escaped
			out += fmt::format("\\\\udc{:02x}", static_cast<unsigned char>(value[i]));
			++i;
		}
	}
	return out;
}

std::string prometheus_text(const json &status, const json &ps)
{
	std::string out;
	Family(out, "eima_info", "gauge",
	       "eimad's configuration: mode, TPM, template, hash and list state (value 1)")
		.sample(1, fmt::format("{},{},{},{},{}", label("mode", status, "mode"),
				       label("tpm", status, "tpm"), label("template", status, "template"),
				       label("hash", status, "hash"), label("host_list", status, "host_list")));
	scalar(out, status, "events", "eima_events_total", "counter",
	       "events eimad handled from the kernel");
	scalar(out, status, "violations", "eima_violations_total", "counter",
	       "violation entries written (a measurement that could not be made), all lists");
	scalar(out, status, "host_entries", "eima_host_list_entries", "gauge",
	       "entries in the host list, boot_aggregate included");
	scalar(out, status, "tpm_extended", "eima_tpm_extends_total", "counter",
	       "host list entries extended into the TPM");
	scalar(out, status, "tpm_failures", "eima_tpm_extend_failures_total", "counter",
	       "host list entries the TPM failed to extend");
	scalar(out, status, "tpm_queued", "eima_tpm_extend_queue", "gauge",
	       "entries written to the host list and waiting to be extended");
	scalar(out, status, "requests_waiting", "eima_control_requests_waiting", "gauge",
	       "quotes and PCR reads waiting on a TPM");
	scalar(out, status, "quotes_requested", "eima_quote_requests_total", "counter",
	       "quotes asked of eimad (host and containers)");
	scalar(out, status, "loop_longest_ms", "eima_loop_longest_seconds", "gauge",
	       "longest time one event-loop pass took since eimad started", 1e-3);
	scalar(out, status, "denials", "eima_denials_total", "counter",
	       "executions and mappings enforcement refused (or would have, in audit mode)");

	// The kernel side's counters (bpf/abi/event.h enum eima_counter).
	if (auto k = status.find("kernel"); k != status.end() && k->is_object()) {
		struct {
			const char *key, *name, *help;
		} const kernel[] = {
			{"hook_calls", "eima_kernel_hook_calls_total", "hook invocations that looked at a file"},
			{"policy_skip", "eima_kernel_policy_skips_total", "files the policy excluded"},
			{"cache_hit", "eima_kernel_cache_hits_total",
			 "files already measured in their namespace (no event)"},
			{"events", "eima_kernel_events_total", "events the kernel sent"},
			{"dropped", "eima_kernel_dropped_total",
			 "events lost to a full ring buffer (each is a violation entry)"},
			{"path_errors", "eima_kernel_path_errors_total", "paths the kernel could not read whole"},
			{"kernel_digests", "eima_kernel_digests_total", "files hashed in the kernel"},
			{"kernel_digest_errors", "eima_kernel_digest_errors_total",
			 "in-kernel hashes that failed (eimad hashed the file)"},
		};
		for (auto &c : kernel)
			scalar(out, *k, c.key, c.name, "counter", c.help);
	}

	// Self-protection (docs/self-protection.md): on or off, and what it refused, by kind.
	// Each refusal is someone, root included, trying to stop or blind eima.
	if (auto p = status.find("protection"); p != status.end() && p->is_object()) {
		Family(out, "eima_protection_on", "gauge",
		       "self-protection (eimad --protect) is on: 1, off: 0 (eima status says why)")
			.sample(p->value("on", false) ? 1 : 0);
		if (auto r = p->find("refused"); r != p->end() && r->is_object()) {
			Family refused(out, "eima_protection_refusals_total", "counter",
				       "attempts on eima's BPF objects, pins, keys or process that "
				       "self-protection refused, by kind");
			for (auto &[kind, n] : r->items())
				if (n.is_number())
					refused.sample(n.get<double>(),
						       fmt::format("attempt=\"{}\"",
								   prometheus_label_value(kind)));
		}
	}
	// Only signed BPF (func=BPF_CHECK, docs/signed-bpf.md): its records in the audit log.
	if (auto b = status.find("bpf_check"); b != status.end() && b->is_object())
		scalar(out, *b, "events_written", "eima_bpf_load_decisions_total", "counter",
		       "BPF program loads the BPF policy refused, or would have in audit mode "
		       "(records written to the audit log)");

	// Containers: how many in each state, vTPMs alive, and each one's list.
	auto containers = ps.find("containers");
	if (containers == ps.end() || !containers->is_array())
		return out;
	std::map<std::string, std::uint64_t> states{{"running", 0}, {"exited", 0}};
	std::uint64_t vtpms = 0;
	for (auto &c : *containers) {
		++states[c.value("state", std::string("unknown"))];
		auto v = c.find("vtpm");
		if (v != c.end() && v->is_object() && v->value("state", "") == "running")
			++vtpms;
	}
	Family by_state(out, "eima_containers", "gauge", "containers eimad knows, by state");
	for (auto &[state, n] : states)
		by_state.sample(static_cast<double>(n), fmt::format("state=\"{}\"", state));
	Family(out, "eima_vtpms_alive", "gauge", "containers' vTPMs (swtpm) running").sample(
		static_cast<double>(vtpms));
	Family entries(out, "eima_container_list_entries", "gauge", "entries in a container's list");
	for (auto &c : *containers)
		entries.sample(c.value("entries", 0.0),
			       label("container", c, "id") + "," + label("runtime", c, "runtime") + "," +
				       label("state", c, "state"));
	Family violations(out, "eima_container_violations_total", "counter",
			  "violation entries in a container's list");
	for (auto &c : *containers)
		violations.sample(c.value("violations", 0.0),
				  label("container", c, "id") + "," + label("runtime", c, "runtime"));
	return out;
}

} // namespace eima::agent
