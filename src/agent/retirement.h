// A container whose last process exited: what is measured under its namespace is
// forgotten (the inode number will be reused), its list is written, and its vTPM's final
// quote is taken, without waiting on the event loop; then RUN/containers/<id>/
// final-evidence.json is written, the vTPM is stopped on a thread of its own, and the
// registry keeps what `eima ps` shows of it.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <string>

#include "agent/background_disposer.h"
#include "agent/container_registry.h"
#include "agent/quote_service.h"

namespace eima::agent {

// A container whose last process exited, while its final evidence is taken.
struct RetiringContainer {
	Container c;
	ExitedContainer exited;
	ContainerQuote quote; // nonce: the SHA-256 of its final binary list
};

class Retirement {
public:
	struct Site {
		ContainerRegistry *registry = nullptr; // gets the exited container
		ContainerQuotes *quotes = nullptr;     // takes the final quote
		std::string run_dir;                   // where the host list is (evidence names it)
		// Forgets what was measured under the container's namespace (kernel and cache).
		std::function<void(const Container &)> forget;
		// Writes every list: before final evidence, whose host part the host list holds.
		std::function<void()> flush_all;
	};
	explicit Retirement(Site site);

	// Starts the final evidence of a container taken out of the registry.
	void retire(Container c);
	// Moves every retiring container on as far as its quotes allow; with wait, to the end.
	void advance(bool wait);

	// A retiring container by key.
	Container *find(std::uint64_t key);
	std::list<RetiringContainer> &retiring() { return retiring_; }
	const std::list<RetiringContainer> &retiring() const { return retiring_; }
	// vTPMs whose swtpm is still being stopped.
	std::size_t vtpms_stopping() const { return disposer_.pending(); }

private:
	void finish(RetiringContainer &r, std::string final_evidence);

	Site s_;
	std::list<RetiringContainer> retiring_;
	BackgroundDisposer disposer_; // stops exited containers' vTPMs
};

// The containers as `eima ps` shows them: live ones, then exited ones, then those whose
// final evidence is being taken.
nlohmann::json ps_json(const ContainerRegistry &registry, const Retirement &retirement);

} // namespace eima::agent
