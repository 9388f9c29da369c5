// Metrics: the exposition rendered from status and ps, and --metrics addresses. The
// end-to-end test (tests/e2e/metrics_test.sh) checks the same text with promtool and a
// real Prometheus.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/metrics_endpoint.h"
#include "agent/prometheus_text.h"

namespace {

using namespace eima::agent;
using nlohmann::json;

TEST(PrometheusText, CountersComeFromStatusAndKernel)
{
	json status = {{"mode", "lsm"}, {"events", 42}, {"violations", 3},
		       {"kernel", {{"cache_hit", 7}, {"policy_skip", 5}, {"dropped", 1}}}};
	auto text = prometheus_text(status, json::object());
	EXPECT_NE(text.find("# TYPE eima_events_total counter\neima_events_total 42\n"),
		  std::string::npos);
	EXPECT_NE(text.find("eima_violations_total 3\n"), std::string::npos);
	EXPECT_NE(text.find("eima_kernel_cache_hits_total 7\n"), std::string::npos);
	EXPECT_NE(text.find("eima_kernel_policy_skips_total 5\n"), std::string::npos);
	EXPECT_NE(text.find("eima_kernel_dropped_total 1\n"), std::string::npos);
	EXPECT_NE(text.find("mode=\"lsm\""), std::string::npos);
}

TEST(PrometheusText, WhatStatusLacksIsLeftOutNotZero)
{
	auto text = prometheus_text(json{{"events", 1}}, json::object());
	EXPECT_EQ(text.find("eima_tpm_extends_total"), std::string::npos); // --tpm none
	EXPECT_EQ(text.find("eima_denials_total"), std::string::npos);     // no enforcement
	EXPECT_EQ(text.find("eima_containers"), std::string::npos);       // no ps answer
}

TEST(PrometheusText, SelfProtectionAndBpfPolicyRefusals)
{
	json status = {{"protection", {{"on", true}, {"refused", {{"signal", 2}, {"map_write", 5}}}}},
		       {"bpf_check", {{"mode", "enforce"}, {"events_written", 3}}}};
	auto text = prometheus_text(status, json::object());
	EXPECT_NE(text.find("eima_protection_on 1\n"), std::string::npos);
	EXPECT_NE(text.find("# TYPE eima_protection_refusals_total counter\n"), std::string::npos);
	EXPECT_NE(text.find("eima_protection_refusals_total{attempt=\"signal\"} 2\n"),
		  std::string::npos);
	EXPECT_NE(text.find("eima_protection_refusals_total{attempt=\"map_write\"} 5\n"),
		  std::string::npos);
	EXPECT_NE(text.find("eima_bpf_load_decisions_total 3\n"), std::string::npos);

	auto off = prometheus_text(json{{"protection", {{"on", false}, {"why_off", "x"}}}},
				   json::object());
	EXPECT_NE(off.find("eima_protection_on 0\n"), std::string::npos);
	EXPECT_EQ(off.find("eima_protection_refusals_total"), std::string::npos);
	EXPECT_EQ(off.find("eima_bpf_load_decisions_total"), std::string::npos);
}

TEST(PrometheusText, ContainersByStateWithTheirListsAndVtpms)
{
	json ps = {{"containers",
		    {{{"id", "abc"}, {"runtime", "runc"}, {"state", "running"}, {"entries", 9},
		      {"violations", 2}, {"vtpm", {{"state", "running"}}}},
		     {{"id", "old"}, {"runtime", "podman"}, {"state", "exited"}, {"entries", 4},
		      {"violations", 0}, {"vtpm", "stopped"}}}}};
	auto text = prometheus_text(json::object(), ps);
	EXPECT_NE(text.find("eima_containers{state=\"running\"} 1\n"), std::string::npos);
	EXPECT_NE(text.find("eima_containers{state=\"exited\"} 1\n"), std::string::npos);
	EXPECT_NE(text.find("eima_vtpms_alive 1\n"), std::string::npos);
	EXPECT_NE(text.find("eima_container_list_entries{container=\"abc\",runtime=\"runc\","
			    "state=\"running\"} 9\n"),
		  std::string::npos);
	EXPECT_NE(text.find("eima_container_violations_total{container=\"abc\",runtime=\"runc\"} 2\n"),
		  std::string::npos);
}

TEST(PrometheusText, LabelValuesAreEscapedAndBytesSurvive)
{
	EXPECT_EQ(prometheus_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
	EXPECT_EQ(prometheus_label_value("caf\xc3\xa9"), "caf\xc3\xa9"); // UTF-8 as it is
	// A byte that is no UTF-8: json_text's \udcff, its backslash escaped for the format.
	EXPECT_EQ(prometheus_label_value("x\xff"), "x\\\\udcff");
}

TEST(MetricsAddress, UnixAndTcpForms)
{
	auto u = parse_metrics_address("unix:/run/eima/metrics.sock");
	ASSERT_TRUE(u);
	EXPECT_EQ(u->kind, MetricsAddress::Kind::unix_socket);
	EXPECT_EQ(u->path_or_host, "/run/eima/metrics.sock");
	auto t = parse_metrics_address("127.0.0.1:9464");
	ASSERT_TRUE(t);
	EXPECT_EQ(t->kind, MetricsAddress::Kind::tcp);
	EXPECT_EQ(t->path_or_host, "127.0.0.1");
	EXPECT_EQ(t->port, 9464);
	auto v6 = parse_metrics_address("[::1]:80");
	ASSERT_TRUE(v6);
	EXPECT_EQ(v6->path_or_host, "::1");
	auto any = parse_metrics_address(":9464");
	ASSERT_TRUE(any);
	EXPECT_EQ(any->path_or_host, "");
}

TEST(MetricsAddress, BadOnesSayWhy)
{
	for (const char *bad : {"localhost", "unix:relative", "unix:", "1.2.3.4:http", "x:70000"}) {
		auto r = parse_metrics_address(bad);
		ASSERT_FALSE(r) << bad;
		EXPECT_NE(r.error().message().find(bad), std::string::npos) << r.error().message();
	}
}

} // namespace
