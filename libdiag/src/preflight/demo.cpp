// sendcheck demo: preflight direct-send on the bundled Northwind Traders
// setup, with the tenant MX played by our SMTP server in its exo-mx profile
// on loopback. No network: every DNS answer comes from the demo zones.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "diag/preflight.h"
#include "diag/tls.h"
#include "diag/toolbox.h"

namespace diag::preflight {
namespace {

constexpr const char* tool = "sendcheck-demo";
constexpr const char* demo_domain = "northwind-traders.example";
constexpr const char* demo_mx = "northwindtraders-example01b.mail.protection.outlook.com";

// A directory removed when the demo ends, for the CA file --ca reads.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sendcheck-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data())) path_ = pattern;
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The MX's certificate, issued by a CA that exists for this run only.
Result<std::pair<std::shared_ptr<tls::Credentials>, std::string>> demo_certificate() {
  tls::CertificateSpec ca_spec;
  ca_spec.common_name = "sendcheck demo CA";
  ca_spec.organization = "sendcheck demo";
  ca_spec.certificate_authority = true;
  auto ca = tls::generate_certificate(ca_spec);
  if (!ca) return ca.error();
  tls::CertificateSpec spec;
  spec.common_name = demo_mx;
  spec.dns_names = {demo_mx};
  spec.ip_addresses = {"127.0.0.1"};
  spec.organization = "sendcheck demo";
  spec.valid_to_days = 90;
  auto server = tls::generate_certificate(spec, &ca.value());
  if (!server) return server.error();
  return std::pair{std::make_shared<tls::Credentials>(std::move(server.value())), tls::certificate_pem(ca->certificate.get())};
}

}  // namespace

std::optional<std::string> find_demo_dir(const std::string& executable_dir) {
  const std::filesystem::path bin(executable_dir);
  for (const auto& candidate : {bin / ".." / ".." / "fixtures" / "demo", bin / ".." / "share" / "sendcheck" / "demo"}) {
    std::error_code ignored;
    if (std::filesystem::is_regular_file(candidate / "demo.zone", ignored))
      return std::filesystem::weakly_canonical(candidate, ignored).string();
  }
  return std::nullopt;
}

int run_demo(const DemoOptions& options) {
  std::string data_dir = options.data_dir;
  if (data_dir.empty()) {
    auto found = find_demo_dir(toolbox::own_directory());
    if (!found)
      return cli::print_error(tool, "cannot find the demo data (demo.zone) in ../../fixtures/demo or ../share/sendcheck/demo "
                                    "next to this program; give it with --data DIR"),
             exit_usage;
    data_dir = *found;
  }
  const std::string zone = data_dir + "/demo.zone", lists = data_dir + "/blocklists.zone";
  for (const auto& path : {zone, lists})
    if (!std::ifstream(path)) return cli::print_error(tool, "cannot read " + path), exit_usage;

  auto certificate = demo_certificate();
  if (!certificate) return cli::print_error(tool, "cannot make the demo certificate: " + certificate.error().message), exit_incomplete;
  ScratchDirectory scratch;
  if (scratch.path().empty()) return cli::print_error(tool, "cannot create a temporary directory"), exit_incomplete;
  const std::string ca_file = scratch.path() + "/demo-ca.pem";
  if (!(std::ofstream(ca_file) << certificate->second)) return cli::print_error(tool, "cannot write " + ca_file), exit_incomplete;

  smtp::ServerConfig server_config;
  server_config.profile = smtp::exo_mx_profile({demo_domain});
  server_config.profile.host_name = "DM6NAM12FT061.mail.protection.outlook.com";
  server_config.credentials = certificate->first;
  server_config.command_timeout = std::chrono::milliseconds(5000);
  auto server = smtp::SmtpServer::start(std::move(server_config));
  if (!server) return cli::print_error(tool, "cannot start the demo SMTP server: " + server.error().message), exit_incomplete;

  ToolOptions preflight;
  preflight.common = options.common;
  preflight.common.dns_servers.clear();
  preflight.common.zone_files = {zone, lists};
  preflight.domain = demo_domain;
  preflight.ip = "203.0.113.40";
  preflight.from = std::string("scanner@") + demo_domain;
  preflight.to = {std::string("frontdesk@") + demo_domain};
  preflight.helo = std::string("scanner.") + demo_domain;
  preflight.smtp_host = "127.0.0.1";
  preflight.smtp_port = (*server)->port();
  preflight.ca_file = ca_file;
  preflight.list_passed = true;
  if (!options.common.json) {
    std::printf("sendcheck demo: Northwind Traders' new scanner (203.0.113.40) will send scan-to-email as\n"
                "scanner@%s by direct send. DNS comes from %s and %s;\n"
                "the tenant MX %s is played by a local server\n"
                "(exo-mx profile) on 127.0.0.1:%u. Nothing leaves this machine and no mail is sent.\n\n",
                demo_domain, zone.c_str(), lists.c_str(), demo_mx, static_cast<unsigned>(preflight.smtp_port));
    std::fflush(stdout);
  }
  const int exit_code = run_tool(preflight);
  (*server)->stop();
  return exit_code;
}

}  // namespace diag::preflight
