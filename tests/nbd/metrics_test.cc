// Tests of src/nbd/metrics.cc and of the HTTP answers of metrics_http.cc.
#include "nbd/metrics.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "nbd/metrics_http.h"

namespace uzram::nbd {
namespace {

using std::chrono::microseconds;

StoreStats some_stats() {
  StoreStats s;
  s.orig_data_size = 8192;
  s.compr_data_size = 1000;
  s.slots = 256;
  return s;
}

TEST(ServerMetricsTest, RecordFillsCountersAndTheRightBucket) {
  ServerMetrics m;
  CommandMetrics& w = m.command(static_cast<uint16_t>(Command::kWrite));
  w.record(4096, false, microseconds(30));
  w.record(0, true, microseconds(2000000));
  EXPECT_EQ(w.requests.load(), 2u);
  EXPECT_EQ(w.errors.load(), 1u);
  EXPECT_EQ(w.bytes.load(), 4096u);
  EXPECT_EQ(w.buckets[2].load(), 1u);  // 30 us: in (25, 50]
  EXPECT_EQ(w.buckets[kLatencyBucketsUs.size()].load(), 1u);  // 2 s: +Inf
  EXPECT_EQ(m.total_requests(), 2u);
  EXPECT_EQ(m.total_errors(), 1u);
  m.command(999).record(0, true, microseconds(1));
  EXPECT_EQ(m.command(static_cast<uint16_t>(ServerMetrics::kOther)).requests.load(), 1u);
}

TEST(ServerMetricsTest, PrometheusTextHasCountersHistogramAndStore) {
  ServerMetrics m;
  m.command(static_cast<uint16_t>(Command::kRead)).record(512, false, microseconds(70));
  m.connections_total = 3;
  const std::string text = m.to_prometheus(some_stats());
  EXPECT_NE(text.find("# TYPE uzram_nbd_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("uzram_nbd_requests_total{command=\"read\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("uzram_nbd_request_bytes_total{command=\"read\"} 512\n"), std::string::npos);
  EXPECT_NE(text.find("uzram_nbd_request_duration_seconds_bucket{command=\"read\",le=\"0.000050\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("uzram_nbd_request_duration_seconds_bucket{command=\"read\",le=\"0.000100\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("uzram_nbd_request_duration_seconds_bucket{command=\"read\",le=\"+Inf\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("uzram_nbd_request_duration_seconds_count{command=\"read\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("uzram_nbd_connections_total 3\n"), std::string::npos);
  EXPECT_NE(text.find("uzram_store_orig_data_size_bytes 8192\n"), std::string::npos);
  EXPECT_NE(text.find("uzram_store_slots 256\n"), std::string::npos);
  // Every line is a comment or "name{labels} value".
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = text.find('\n', pos);
    ASSERT_NE(eol, std::string::npos);
    const std::string line = text.substr(pos, eol - pos);
    if (line[0] != '#') {
      EXPECT_NE(line.rfind(' '), std::string::npos) << line;
    }
    pos = eol + 1;
  }
}

TEST(ServerMetricsTest, JsonHasStoreAndNbdSections) {
  ServerMetrics m;
  m.command(static_cast<uint16_t>(Command::kTrim)).record(4096, false, microseconds(5));
  const auto j = nlohmann::json::parse(m.to_json(some_stats()));
  EXPECT_EQ(j["store"]["orig_data_size"], 8192);
  EXPECT_EQ(j["nbd"]["commands"]["trim"]["requests"], 1);
  EXPECT_EQ(j["nbd"]["commands"]["trim"]["latency_buckets"]["le_10_us"], 1);
}

HttpPages pages() { return HttpPages{[] { return std::string("metrics!"); }, [] { return std::string("{}"); }}; }

TEST(MetricsHttpTest, GetMetricsAndStats) {
  std::string r = http_response("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", pages());
  EXPECT_EQ(r.rfind("HTTP/1.0 200 OK\r\n", 0), 0u);
  EXPECT_NE(r.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(r.find("Content-Length: 8\r\n"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 8), "metrics!");
  r = http_response("GET /stats?pretty=1 HTTP/1.0\r\n\r\n", pages());
  EXPECT_NE(r.find("application/json"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 3), "{}\n");
}

TEST(MetricsHttpTest, HeadOmitsTheBody) {
  const std::string r = http_response("HEAD /metrics HTTP/1.0\r\n\r\n", pages());
  EXPECT_NE(r.find("Content-Length: 8\r\n"), std::string::npos);
  EXPECT_EQ(r.find("metrics!"), std::string::npos);
}

TEST(MetricsHttpTest, ErrorsForOtherPathsMethodsAndGarbage) {
  EXPECT_EQ(http_response("GET / HTTP/1.0\r\n\r\n", pages()).rfind("HTTP/1.0 404", 0), 0u);
  EXPECT_EQ(http_response("POST /metrics HTTP/1.0\r\n\r\n", pages()).rfind("HTTP/1.0 405", 0), 0u);
  EXPECT_EQ(http_response("", pages()).rfind("HTTP/1.0 400", 0), 0u);
  EXPECT_EQ(http_response("hello\r\n\r\n", pages()).rfind("HTTP/1.0 400", 0), 0u);
  EXPECT_EQ(http_response("GET /metrics\r\n\r\n", pages()).rfind("HTTP/1.0 400", 0), 0u);
}

}  // namespace
}  // namespace uzram::nbd
