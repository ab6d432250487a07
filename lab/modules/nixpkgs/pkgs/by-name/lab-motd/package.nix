# lab-motd: the lab hosts' message of the day (Layer 3 custom package)
{ mkLabPkg }:
mkLabPkg {
  pname = "lab-motd";
  version = "1.0";
  script = "echo 'vanixiets lab host'";
}
