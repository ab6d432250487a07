# The fleet's machines as plain data (no function, no inputs): class, system,
# tags, deploy target and, for cloud servers, the terranix toggle and sizing.
# One source of truth: lab/flake.nix imports this file, and the dendritic
# modules of the real fleet (modules/clan, modules/terranix) import it too.
# import-tree ignores this directory (a path component starting with "_").
{
  cinnabar = {
    machineClass = "nixos";
    system = "x86_64-linux";
    tags = [ "server" "nixos" "hetzner" "permanent" ];
    description = "Hetzner VPS, permanent; ZeroTier controller";
    deploy.targetHost = "root@cinnabar";
    cloud = {
      provider = "hetzner";
      enabled = true;
      serverType = "cx22";
      location = "nbg1";
      image = "ubuntu-24.04";
    };
  };
  electrum = {
    machineClass = "nixos";
    system = "x86_64-linux";
    tags = [ "server" "nixos" "hetzner" "ephemeral" ];
    description = "Hetzner VPS, ephemeral (usually disabled in terranix)";
    deploy.targetHost = "root@electrum";
    cloud = {
      provider = "hetzner";
      enabled = false;
      serverType = "cx22";
      location = "fsn1";
      image = "ubuntu-24.04";
    };
  };
  galena = {
    machineClass = "nixos";
    system = "x86_64-linux";
    tags = [ "server" "nixos" "gcp" "cpu" ];
    description = "GCP CPU instance";
    deploy.targetHost = "root@galena";
    cloud = {
      provider = "gcp";
      enabled = true;
      serverType = "e2-standard-4";
      location = "us-central1-b";
      image = "debian-cloud/debian-12";
    };
  };
  scheelite = {
    machineClass = "nixos";
    system = "x86_64-linux";
    tags = [ "server" "nixos" "gcp" "gpu" ];
    description = "GCP GPU instance (disabled: machines.scheelite.enabled = false)";
    deploy.targetHost = "root@scheelite";
    cloud = {
      provider = "gcp";
      enabled = false;
      serverType = "g2-standard-4";
      location = "us-central1-a";
      image = "debian-cloud/debian-12";
    };
  };
  stibnite = {
    machineClass = "darwin";
    system = "aarch64-darwin";
    tags = [ "workstation" "darwin" "laptop" ];
    description = "nix-darwin laptop of crs58";
    deploy.targetHost = "root@stibnite";
  };
  blackphos = {
    machineClass = "darwin";
    system = "aarch64-darwin";
    tags = [ "workstation" "darwin" "laptop" ];
    description = "nix-darwin laptop of raquel";
    deploy.targetHost = "root@blackphos";
  };
  argentum = {
    machineClass = "darwin";
    system = "aarch64-darwin";
    tags = [ "workstation" "darwin" "laptop" ];
    description = "nix-darwin laptop of christophersmith";
    deploy.targetHost = "root@argentum";
  };
  rosegold = {
    machineClass = "darwin";
    system = "aarch64-darwin";
    tags = [ "workstation" "darwin" "laptop" ];
    description = "nix-darwin laptop of janettesmith";
    deploy.targetHost = "root@rosegold";
  };
}
