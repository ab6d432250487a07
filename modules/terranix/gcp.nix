# Google Compute Engine instances: one google_compute_instance per enabled
# machine whose provider is "gcp" (galena; scheelite, the GPU instance, only
# when machines.scheelite.enabled = true), with its NAT address as output
# <m>_ipv4. The instance's shape (GPU and scheduling included) is
# ./_gce-instance.nix, shared with the lab's rendering.
#
# The google provider takes its credentials the usual way
# (GOOGLE_APPLICATION_CREDENTIALS or gcloud's application default); the
# project is a terraform variable.
{
  flake.modules.terranix.gcp =
    { config, lib, ... }:
    let
      instances = lib.filterAttrs (_: m: m.provider == "gcp" && m.enabled) config.machines;
    in
    lib.mkIf (instances != { }) {
      terraform.required_providers.google.source = "hashicorp/google";
      variable.gcp_project = {
        type = "string";
        description = "GCP project of the fleet's instances";
      };
      provider.google = {
        project = "\${var.gcp_project}";
        region = "us-central1";
      };

      resource.google_compute_instance = lib.mapAttrs (
        name: m:
        import ./_gce-instance.nix {
          inherit name;
          cloud = m;
          sshKeys = "root:\${var.ssh_public_key}";
        }
      ) instances;

      output = lib.mapAttrs' (
        name: _:
        lib.nameValuePair "${name}_ipv4" {
          value = "\${google_compute_instance.${name}.network_interface[0].access_config[0].nat_ip}";
        }
      ) instances;
    };
}
