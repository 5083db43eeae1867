// sendcheck-preflight: will this device's mail get into Microsoft 365 by the
// chosen path? Runs the other tools' checks (MX, SPF with a suggested
// record, DMARC, blocklists, the SMTP session up to RCPT TO) at once, then
// gives the verdict first, the checklist, and the next steps in order.
// Facts: ../shared/reference/m365-facts.md sections 2, 3 and 4.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/cli.h"
#include "diag/dns.h"
#include "diag/ip.h"
#include "diag/report.h"
#include "diag/resolver.h"
#include "diag/result.h"
#include "diag/smtp.h"

namespace diag::preflight {

// The submission paths of m365-facts.md section 3.
enum class Method { direct_send, relay, smtp_auth, hve, acs };
std::optional<Method> parse_method(std::string_view text);  // "direct-send", "relay", "smtp-auth", "hve", "acs"
std::string_view to_string(Method method);
std::string_view describe(Method method);  // "Direct send", "SMTP relay (inbound connector)", ...

struct Endpoint {
  std::string host;  // empty: the tenant MX (direct send, relay)
  std::uint16_t port = 25;
};
Endpoint default_endpoint(Method method);

// What the command line asks (sendcheck-preflight's options).
struct ToolOptions {
  cli::CommonOptions common;
  std::string domain;                 // DOMAIN: the tenant's accepted domain
  std::string method = "direct-send";
  std::string ip;                     // --ip: the device's public address
  bool egress = false;                // --egress: this machine's public address instead
  std::vector<std::string> egress_dns;
  std::string from;                   // --from
  std::vector<std::string> to;        // --to (repeatable)
  std::vector<std::string> accepted_domains;  // --accepted-domain: more of the tenant's domains
  std::string smtp_host;              // --smtp-host: instead of the MX / the method's endpoint
  int smtp_port = 0;                  // --smtp-port; 0: the method's
  std::string helo;
  std::string ca_file;                // --ca
  std::vector<std::string> blocklist_tables;  // --blocklist-zones FILE (sendcheck-blocklist's --zones)
  std::vector<std::string> lists;             // --list ID
  // Submission methods (smtp-auth, hve, acs): secrets only from files or the environment.
  std::string user, password_file, token_file;
  std::string tenant, client_id, client_secret_file, token_endpoint;
};

// Validated input.
struct Plan {
  Method method = Method::direct_send;
  std::string domain;
  std::vector<std::string> accepted_domains;  // domain first
  std::optional<IpAddress> ip;                // nullopt: not given (egress may find it)
  bool egress = false;
  std::vector<dns::ServerAddress> egress_dns;
  std::string from, from_domain;
  std::vector<std::string> to;
  std::vector<std::string> external;  // recipients outside the accepted domains
  Endpoint endpoint;                  // host empty: the MX
  bool endpoint_overridden = false;
  std::string helo = "sendcheck-preflight.invalid";
  std::string ca_file;
  std::vector<std::string> blocklist_tables, lists;
  // Submission.
  std::string user, password_file, token_file, tenant, client_id, client_secret_file, token_endpoint;
  smtp::AuthMechanism auth = smtp::AuthMechanism::none;
  std::chrono::milliseconds timeout{5000};
};
Result<Plan> make_plan(const ToolOptions& options);

// Whether an address's domain is one of the accepted domains (or below one).
bool is_internal(std::string_view address, const std::vector<std::string>& accepted_domains);

// ---------------------------------------------------------------------------
// DMARC (RFC 7489): just what the verdict needs.

struct DmarcRecord {
  std::string record;
  std::string policy;            // "none", "quarantine", "reject"; empty when p= is missing or invalid
  std::string subdomain_policy;  // sp=
  int pct = 100;
};
// The DMARC record among a TXT answer's strings: nullopt when none starts
// with "v=DMARC1"; more than one is reported by dmarc_check.
std::optional<DmarcRecord> parse_dmarc(std::string_view text);
// The check for the From domain's _dmarc answer, knowing whether the
// device passes SPF (aligned: MAIL FROM and From are the same address).
Check dmarc_check(const std::string& from_domain, const dns::Answer& answer, bool spf_passes);

// ---------------------------------------------------------------------------
// The run

struct Section {
  std::string id;     // "input", "mx", "spf", "dmarc", "blocklist", "smtp", "auth"
  std::string title;  // "MX (contoso.com)"
  std::vector<Check> checks;
};

struct Outcome {
  std::vector<Section> sections;
  std::optional<IpAddress> ip;          // as given or found by --egress
  std::string smtp_target;              // "host [address]:port"
  std::optional<bool> works;            // nullopt: could not complete
  std::string verdict;                  // "Direct send from ... will work" / "will not work because ..."
  std::vector<std::string> next_steps;  // in order
  std::optional<std::string> spf_record;  // the exact record to publish, when SPF does not pass
  nlohmann::json fields = nlohmann::json::object();  // "mx", "spf", "dmarc", "blocklist", "smtp", "egress"
  std::vector<dns::QueryLogEntry> log;
};

// Runs every part the method needs, the independent ones at once (each DNS
// part on its own resolver in its own thread; the SMTP session beside them
// when its host is known up front). Secrets are read here, never printed.
Result<Outcome> run_preflight(const Plan& plan, const dns::ResolverConfig& resolver_config);

// A row that did not run: info with "skipped": true (rendered SKIP).
Check skipped(std::string id, std::string message);
bool is_skipped(const Check& check);

// The report: every section's checks, the verdict and next steps, and the
// parts' JSON under one envelope; with text non-null, the text form.
Report make_report(Outcome& outcome, const Plan& plan, std::string* text, const TextStyle& style);

// sendcheck-preflight from parsed options to exit code.
int run_tool(const ToolOptions& options);

// ---------------------------------------------------------------------------
// sendcheck demo: preflight on a bundled setup, with no network.

// The demo's story (fixtures/demo/README.md): Northwind Traders' new scanner
// at 203.0.113.40, missing from the SPF record, sends as
// scanner@northwind-traders.example to frontdesk@northwind-traders.example.
struct DemoOptions {
  cli::CommonOptions common;  // --json, --no-color, -v pass through; --dns/--zone are not used
  std::string data_dir;       // --data DIR; empty: found with find_demo_dir
};

// Where demo.zone and blocklists.zone are: next to a build tree's bin/
// (bin/../../fixtures/demo) or an installed one (bin/../share/sendcheck/demo).
std::optional<std::string> find_demo_dir(const std::string& executable_dir);

// Starts the exo-mx profile of the SMTP server on 127.0.0.1 port 0 with a
// certificate from a CA made for the run, then runs preflight direct-send
// against it with the demo zones. Returns preflight's exit code (1: the
// scanner fails SPF).
int run_demo(const DemoOptions& options);

}  // namespace diag::preflight
