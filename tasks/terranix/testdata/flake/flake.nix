# A tiny input-free fleet flake for the terranix tests: two Hetzner machines
# (alpha enabled, beta per ./toggle.nix) and one GCP machine, rendered with
# builtins only, in terranix's shape.
{
  outputs = { self }:
    let
      betaEnabled = import ./toggle.nix;
      cloud = provider: enabled: serverType: location: image: { inherit provider enabled serverType location image; };
      machines = {
        alpha = { machineClass = "nixos"; system = "x86_64-linux"; tags = [ "server" ]; description = "";
          deploy = { targetHost = "root@alpha"; healthChecks = [ ]; }; cloud = cloud "hetzner" true "cx22" "nbg1" "ubuntu-24.04"; generators = { }; };
        beta = { machineClass = "nixos"; system = "x86_64-linux"; tags = [ "server" ]; description = "";
          deploy = { targetHost = "root@beta"; healthChecks = [ ]; }; cloud = cloud "hetzner" betaEnabled "cx22" "fsn1" "ubuntu-24.04"; generators = { }; };
        gamma = { machineClass = "nixos"; system = "x86_64-linux"; tags = [ "server" ]; description = "";
          deploy = { targetHost = "root@gamma"; healthChecks = [ ]; }; cloud = cloud "gcp" true "e2-small" "us-central1-b" "debian-cloud/debian-12"; generators = { }; };
      };
      hserver = m: { name = m; server_type = machines.${m}.cloud.serverType; location = machines.${m}.cloud.location;
        image = machines.${m}.cloud.image; ssh_keys = [ "\${hcloud_ssh_key.admin.id}" ]; };
      hetzner = builtins.filter (m: machines.${m}.cloud.provider == "hetzner" && machines.${m}.cloud.enabled) (builtins.attrNames machines);
      gen = f: names: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
      config = {
        terraform.required_providers = { hcloud.source = "hetznercloud/hcloud"; google.source = "hashicorp/google"; };
        provider = { hcloud = { }; google = { project = "vanixiets-lab"; region = "us-central1"; }; };
        resource = {
          hcloud_ssh_key.admin = { name = "admin"; public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAn+FX6WyhzfXL9qWj3nH+VWE53dy8meOVpQa3wLhCFY test"; };
          hcloud_server = gen hserver hetzner;
          google_compute_instance.gamma = { name = "gamma"; machine_type = "e2-small"; zone = "us-central1-b";
            boot_disk = [{ initialize_params = [{ image = "debian-cloud/debian-12"; }]; }];
            network_interface = [{ network = "default"; access_config = [{ }]; }]; };
        };
        output = builtins.listToAttrs (map (m: { name = "${m}_ipv4"; value.value = "\${hcloud_server.${m}.ipv4_address}"; }) hetzner) // {
          gamma_ipv4.value = "\${google_compute_instance.gamma.network_interface[0].access_config[0].nat_ip}";
        };
      };
    in
    {
      fleet = {
        inherit machines;
        instances = { };
        users = { };
      };
      packages.x86_64-linux.terraform = derivation {
        name = "config.tf.json";
        system = "x86_64-linux";
        builder = "/bin/sh";
        args = [ "-c" "cp \"$jsonPath\" \"$out\"" ];
        PATH = "/usr/bin:/bin";
        json = builtins.toJSON config;
        passAsFile = [ "json" ];
      };
    };
}
