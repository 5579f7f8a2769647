#include "apps/gateway/sigv4.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hibiki::apps::gateway {
namespace {

// The AWS documentation's worked example ("Create a signed AWS API request"): IAM ListUsers.
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kIamSignature =
    "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

HeaderList iam_headers(std::string_view signature) {
  return {{"Host", "iam.amazonaws.com"},
          {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
          {"X-Amz-Date", "20150830T123600Z"},
          {"Authorization",
           "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
           "SignedHeaders=content-type;host;x-amz-date, Signature=" +
               std::string(signature)}};
}

// aws-sig-v4-test-suite requests: host and x-amz-date signed, service "service".
HeaderList suite_headers(std::string_view signature) {
  return {{"Host", "example.amazonaws.com"},
          {"X-Amz-Date", "20150830T123600Z"},
          {"Authorization",
           "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
           "SignedHeaders=host;x-amz-date, Signature=" +
               std::string(signature)}};
}

TEST(GatewaySigV4, builds_the_documented_canonical_request_string_to_sign_and_signature) {
  const std::string empty_hash = sha256_hex("");
  EXPECT_EQ(empty_hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const auto canonical = sigv4_canonical_request(
      "GET", "/", "Action=ListUsers&Version=2010-05-08", iam_headers(kIamSignature),
      {"content-type", "host", "x-amz-date"}, empty_hash);
  ASSERT_TRUE(canonical.has_value());
  EXPECT_EQ(*canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
            "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
            "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "content-type;host;x-amz-date\n" +
                empty_hash);
  EXPECT_EQ(sha256_hex(*canonical),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  const std::string to_sign =
      sigv4_string_to_sign("20150830T123600Z", "20150830", "us-east-1", "iam", *canonical);
  EXPECT_EQ(to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(sigv4_signature(kSecret, "20150830", "us-east-1", "iam", to_sign), kIamSignature);
}

TEST(GatewaySigV4, verifies_the_documented_iam_request) {
  EXPECT_EQ(check_sigv4("GET", "/", "Action=ListUsers&Version=2010-05-08",
                        iam_headers(kIamSignature), "", kSecret),
            SigV4Status::ok);
  // Query order does not matter: the canonical query is sorted.
  EXPECT_TRUE(verify_sigv4("GET", "/", "Version=2010-05-08&Action=ListUsers",
                           iam_headers(kIamSignature), "", kSecret));
}

TEST(GatewaySigV4, refuses_a_changed_body_query_method_header_or_secret) {
  const HeaderList headers = iam_headers(kIamSignature);
  const std::string_view query = "Action=ListUsers&Version=2010-05-08";
  EXPECT_EQ(check_sigv4("GET", "/", query, headers, "x", kSecret), SigV4Status::signature_mismatch);
  EXPECT_FALSE(
      verify_sigv4("GET", "/", "Action=ListUsers&Version=2010-05-09", headers, "", kSecret));
  EXPECT_FALSE(verify_sigv4("POST", "/", query, headers, "", kSecret));
  EXPECT_FALSE(verify_sigv4("GET", "/other", query, headers, "", kSecret));
  EXPECT_FALSE(verify_sigv4("GET", "/", query, headers, "", "wrong-secret"));
  HeaderList changed = headers;
  changed[0].second = "evil.example";
  EXPECT_FALSE(verify_sigv4("GET", "/", query, changed, "", kSecret));
  std::string flipped(kIamSignature);
  flipped[0] = '6';
  EXPECT_EQ(check_sigv4("GET", "/", query, iam_headers(flipped), "", kSecret),
            SigV4Status::signature_mismatch);
}

TEST(GatewaySigV4, a_declared_payload_hash_must_be_the_bodys) {
  // Signing x-amz-content-sha256 instead of the body would let the body be swapped.
  HeaderList headers = iam_headers(kIamSignature);
  headers.emplace_back("x-amz-content-sha256", sha256_hex("other body"));
  EXPECT_EQ(check_sigv4("GET", "/", "Action=ListUsers&Version=2010-05-08", headers, "", kSecret),
            SigV4Status::payload_hash_mismatch);
}

TEST(GatewaySigV4, passes_the_aws_test_suite_requests) {
  struct Case {
    std::string_view path;
    std::string_view query;
    std::string_view signature;
  };
  const Case cases[] = {
      {"/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},  // vanilla
      {"//example//", "", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
      {"/./example", "", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
      {"/example space/", "", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
      {"/\xE1\x88\xB4", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"/", "Param1=value1", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(check_sigv4("GET", c.path, c.query, suite_headers(c.signature), "", kSecret),
              SigV4Status::ok)
        << c.path << "?" << c.query;
  }
}

TEST(GatewaySigV4, encodes_the_received_path_again_for_execute_api) {
  // An SDK sends the id's '=' as %3D; the canonical URI encodes the '%' once more.
  const HeaderList headers = {{"Host", "localhost:8081"}};
  const auto canonical = sigv4_canonical_request("POST", "/dev/@connections/L0SM9cOFvHcCIhw%3D", "",
                                                 headers, {"host"}, sha256_hex(""));
  ASSERT_TRUE(canonical.has_value());
  EXPECT_EQ(canonical->substr(0, canonical->find('\n', 5)),
            "POST\n/dev/%40connections/L0SM9cOFvHcCIhw%253D");
}

TEST(GatewaySigV4, canonical_headers_are_trimmed_collapsed_and_joined) {
  const HeaderList headers = {{"Host", "example.amazonaws.com"},
                              {"My-Header1", "  value1  "},
                              {"My-Header2", "\"a   b   c\""},
                              {"my-header3", "one"},
                              {"MY-HEADER3", "two"}};
  const auto canonical = sigv4_canonical_request(
      "GET", "/", "", headers, {"host", "my-header1", "my-header2", "my-header3"}, "hash");
  ASSERT_TRUE(canonical.has_value());
  EXPECT_EQ(*canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
            "my-header3:one,two\n\nhost;my-header1;my-header2;my-header3\nhash");
  EXPECT_FALSE(
      sigv4_canonical_request("GET", "/", "", headers, {"host", "absent"}, "hash").has_value());
}

TEST(GatewaySigV4, canonical_query_is_encoded_and_sorted_by_name_then_value) {
  const HeaderList headers = {{"Host", "h"}};
  const auto canonical =
      sigv4_canonical_request("GET", "/", "b=2&a=z&a=y&c=x%20y&d=%7e&e", headers, {"host"}, "x");
  ASSERT_TRUE(canonical.has_value());
  EXPECT_EQ(canonical->substr(6, canonical->find('\n', 6) - 6), "a=y&a=z&b=2&c=x%20y&d=~&e=");
}

TEST(GatewaySigV4, parses_the_authorization_header) {
  const auto auth = parse_sigv4_authorization(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/execute-api/aws4_request,"
      "SignedHeaders=Host;X-Amz-Date,Signature=" +
      std::string(kIamSignature));
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(auth->date, "20150830");
  EXPECT_EQ(auth->region, "us-east-1");
  EXPECT_EQ(auth->service, "execute-api");
  EXPECT_EQ(auth->signed_headers, (std::vector<std::string>{"host", "x-amz-date"}));
  EXPECT_EQ(auth->signature, kIamSignature);
  EXPECT_TRUE(is_sigv4_authorization("AWS4-HMAC-SHA256 Credential=x"));
  EXPECT_FALSE(is_sigv4_authorization("Bearer abc"));
}

TEST(GatewaySigV4, refuses_malformed_authorization_headers) {
  const std::string sig(kIamSignature);
  const std::string bad[] = {
      "",
      "Bearer token",
      "AWS4-HMAC-SHA1 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws5_request, SignedHeaders=host, Signature=" +
          sig,
      "AWS4-HMAC-SHA256 Credential=A/20150830/r/aws4_request, SignedHeaders=host, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=ab",
      "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host;;x, "
      "Signature=" +
          sig,
      "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=" +
          sig + ", Extra=1",
  };
  for (const std::string& header : bad) {
    EXPECT_FALSE(parse_sigv4_authorization(header).has_value()) << header;
  }
}

TEST(GatewaySigV4, reports_what_is_missing) {
  const std::string_view query = "Action=ListUsers&Version=2010-05-08";
  HeaderList headers = iam_headers(kIamSignature);
  headers.pop_back();
  EXPECT_EQ(check_sigv4("GET", "/", query, headers, "", kSecret),
            SigV4Status::missing_authorization);

  headers = iam_headers(kIamSignature);
  headers.erase(headers.begin() + 2);  // X-Amz-Date
  EXPECT_EQ(check_sigv4("GET", "/", query, headers, "", kSecret), SigV4Status::missing_date);

  headers = iam_headers(kIamSignature);
  headers.erase(headers.begin() + 1);  // Content-Type, which is signed
  EXPECT_EQ(check_sigv4("GET", "/", query, headers, "", kSecret),
            SigV4Status::missing_signed_header);

  headers = iam_headers(kIamSignature);
  headers[2].second = "20150831T123600Z";  // not the scope's date
  EXPECT_EQ(check_sigv4("GET", "/", query, headers, "", kSecret),
            SigV4Status::malformed_authorization);

  headers = {{"Host", "h"},
             {"X-Amz-Date", "20150830T123600Z"},
             {"Authorization",
              "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=x-amz-date, "
              "Signature=" +
                  std::string(kIamSignature)}};
  EXPECT_EQ(check_sigv4("GET", "/", "", headers, "", kSecret),
            SigV4Status::malformed_authorization);  // host must be signed
  EXPECT_STREQ(to_string(SigV4Status::signature_mismatch), "signature_mismatch");
}

TEST(GatewaySigV4, checks_the_date_is_within_the_allowed_skew) {
  const std::int64_t signed_at = 1440938160;  // 2015-08-30T12:36:00Z
  EXPECT_TRUE(sigv4_date_within("20150830T123600Z", signed_at));
  EXPECT_TRUE(sigv4_date_within("20150830T123600Z", signed_at + 900));
  EXPECT_TRUE(sigv4_date_within("20150830T123600Z", signed_at - 900));
  EXPECT_FALSE(sigv4_date_within("20150830T123600Z", signed_at + 901));
  EXPECT_FALSE(sigv4_date_within("20150830T123600Z", signed_at - 901));
  EXPECT_FALSE(sigv4_date_within("2015-08-30", signed_at));
}

}  // namespace
}  // namespace hibiki::apps::gateway
