# A second, different fleet flake: it exposes only `fleet`, written the way a
# clan flake would hand over its inventory (roles' tags as lists, optional
# fields left out). The suite must read it exactly as it reads the lab.
{
  outputs = { self }: {
    fleet = {
      machines = {
        quartz = {
          machineClass = "nixos";
          system = "x86_64-linux";
          tags = [ "server" ];
          deploy.targetHost = "root@quartz.example";
        };
        jasper = {
          machineClass = "nixos";
          system = "aarch64-linux";
          tags = [ "server" "arm" ];
          deploy.targetHost = "root@jasper.example";
          cloud = { provider = "hetzner"; enabled = true; serverType = "cax11"; location = "hel1"; };
        };
        obsidian = {
          machineClass = "darwin";
          system = "aarch64-darwin";
          deploy.targetHost = "dana@obsidian.local";
          generators.openssh = {
            files."ssh.id_ed25519" = { };
            files."ssh.id_ed25519.pub".secret = false;
            script = "ssh-keygen -q -t ed25519 -N '' -f $out/ssh.id_ed25519";
          };
        };
      };
      instances = {
        zerotier = {
          module.name = "zerotier";
          roles.controller.machines.quartz = { };
          roles.peer.tags = [ "arm" ];
          roles.peer.machines.obsidian = { };
        };
        user-dana = {
          module.name = "users";
          roles.default.tags = [ "all" ];
          roles.default.settings = { user = "dana"; admin = true; };
        };
      };
      users.dana.ageKeys = [ "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" ];
    };
  };
}
