# Hetzner Cloud servers: one hcloud_server per enabled machine whose
# provider is "hetzner" (cinnabar; electrum when enabled), and its public
# address as output <m>_ipv4, which the suite reads after `tf:apply` to hand
# the server to clan (install, then deploy).
#
# The provider reads HCLOUD_TOKEN (and HCLOUD_ENDPOINT, for a fake API) from
# the environment; no secret is rendered into config.tf.json.
{
  flake.modules.terranix.hetzner =
    { config, lib, ... }:
    let
      servers = lib.filterAttrs (_: m: m.provider == "hetzner" && m.enabled) config.machines;
    in
    lib.mkIf (servers != { }) {
      terraform.required_providers.hcloud.source = "hetznercloud/hcloud";
      provider.hcloud = { };

      resource.hcloud_ssh_key.vanixiets = {
        name = "vanixiets-admin";
        public_key = "\${var.ssh_public_key}";
      };

      resource.hcloud_server = lib.mapAttrs (name: m: {
        inherit name;
        server_type = m.serverType;
        location = m.location;
        image = m.image;
        ssh_keys = [ "\${hcloud_ssh_key.vanixiets.id}" ];
        labels = {
          managed-by = "vanixiets";
          machine = name;
        };
      }) servers;

      output = lib.mapAttrs' (
        name: _: lib.nameValuePair "${name}_ipv4" { value = "\${hcloud_server.${name}.ipv4_address}"; }
      ) servers;
    };
}
