# The terraform configuration of the enabled cloud machines, in terranix's
# output shape (what `terranix` renders to config.tf.json): providers,
# resource.hcloud_ssh_key, resource.hcloud_server.<m>,
# resource.google_compute_instance.<m>, and output.<m>_ipv4 with each
# server's public address. Disabled machines (cloud.enabled = false) keep
# their declaration in the fleet but are absent here, so terraform destroys
# them. The hcloud provider reads HCLOUD_TOKEN / HCLOUD_ENDPOINT from the
# environment (the fake API in the lab), google its usual credentials.
{ fleet, sshPublicKey }:
let
  inherit (builtins) attrNames filter listToAttrs;

  enabledOn = provider: filter
    (m: let c = fleet.machines.${m}.cloud; in c != null && c.provider == provider && c.enabled)
    (attrNames fleet.machines);

  hetzner = enabledOn "hetzner";
  gcp = enabledOn "gcp";

  gen = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
  cloudOf = m: fleet.machines.${m}.cloud;

  hcloudServer = m: {
    name = m;
    server_type = (cloudOf m).serverType;
    location = (cloudOf m).location;
    image = (cloudOf m).image;
    ssh_keys = [ "\${hcloud_ssh_key.vanixiets.id}" ];
    labels = { managed-by = "vanixiets"; machine = m; };
  };

  gceInstance = m: import ../../modules/terranix/_gce-instance.nix {
    name = m;
    cloud = cloudOf m;
    sshKeys = "root:${sshPublicKey}";
  };
in
{
  terraform.required_providers =
    (if hetzner != [ ] then { hcloud = { source = "hetznercloud/hcloud"; }; } else { })
    // (if gcp != [ ] then { google = { source = "hashicorp/google"; }; } else { });
  provider =
    (if hetzner != [ ] then { hcloud = { }; } else { })
    // (if gcp != [ ] then { google = { project = "vanixiets-lab"; region = "us-central1"; }; } else { });
  resource =
    (if hetzner != [ ] then {
      hcloud_ssh_key.vanixiets = { name = "vanixiets-admin"; public_key = sshPublicKey; };
      hcloud_server = gen hetzner hcloudServer;
    } else { })
    // (if gcp != [ ] then { google_compute_instance = gen gcp gceInstance; } else { });
  output =
    gen (map (m: "${m}_ipv4") hetzner) (o: { value = "\${hcloud_server.${builtins.substring 0 (builtins.stringLength o - 5) o}.ipv4_address}"; })
    // gen (map (m: "${m}_ipv4") gcp) (o: { value = "\${google_compute_instance.${builtins.substring 0 (builtins.stringLength o - 5) o}.network_interface[0].access_config[0].nat_ip}"; });
}
